//! Codec throughput: encode and decode of a Device object instance (/3/0) in
//! every node format. Prints one JSON object per line on stdout; run through
//! `make bench`, which collects the lines into `bench/results/`.
//!
//! No timing is asserted anywhere: this measures, tests check correctness.

use std::hint::black_box;
use std::time::{Duration, Instant};

use lwm2m_core::codec::{codec_for, ContentFormat};
use lwm2m_core::{
    LwM2mNode, LwM2mObjectInstance, LwM2mPath, LwM2mResource, ModelRegistry, ResourceType, Value,
};

fn device_instance() -> LwM2mNode {
    let multi = |id, kind, values: Vec<Value>| {
        LwM2mResource::multiple(
            id,
            kind,
            values.into_iter().enumerate().map(|(i, v)| (i as u16, v)),
        )
        .unwrap_or_else(|e| unreachable!("{e}"))
    };
    LwM2mNode::ObjectInstance(LwM2mObjectInstance::new(
        0,
        [
            LwM2mResource::single(0, Value::String("Open Mobile Alliance".into())),
            LwM2mResource::single(1, Value::String("Lightweight M2M Client".into())),
            LwM2mResource::single(2, Value::String("345000123".into())),
            LwM2mResource::single(3, Value::String("1.0".into())),
            multi(
                6,
                ResourceType::Integer,
                vec![Value::Integer(1), Value::Integer(5)],
            ),
            multi(
                7,
                ResourceType::Integer,
                vec![Value::Integer(3800), Value::Integer(5000)],
            ),
            multi(
                8,
                ResourceType::Integer,
                vec![Value::Integer(125), Value::Integer(900)],
            ),
            LwM2mResource::single(9, Value::Integer(100)),
            LwM2mResource::single(10, Value::Integer(15)),
            multi(11, ResourceType::Integer, vec![Value::Integer(0)]),
            LwM2mResource::single(13, Value::Time(1_367_491_215)),
            LwM2mResource::single(14, Value::String("+02:00".into())),
            LwM2mResource::single(16, Value::String("U".into())),
        ],
    ))
}

/// Runs `f` repeatedly for about `budget` and returns nanoseconds per call.
fn measure(budget: Duration, mut f: impl FnMut()) -> f64 {
    let mut iterations = 0u64;
    let start = Instant::now();
    while start.elapsed() < budget {
        for _ in 0..100 {
            f();
        }
        iterations += 100;
    }
    start.elapsed().as_nanos() as f64 / iterations as f64
}

fn main() {
    let budget = Duration::from_millis(
        std::env::var("BENCH_MILLIS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(500),
    );
    let models = ModelRegistry::with_core_objects();
    let path: LwM2mPath = "/3/0".parse().unwrap_or_else(|e| unreachable!("{e}"));
    let node = device_instance();
    for format in [
        ContentFormat::Tlv,
        ContentFormat::SenmlJson,
        ContentFormat::SenmlCbor,
        ContentFormat::OmaJson,
    ] {
        let Some(codec) = codec_for(format) else {
            continue;
        };
        let bytes = match codec.encode(&path, &node, &models) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("{format}: cannot encode the benchmark node: {e}");
                std::process::exit(1);
            }
        };
        // Correctness first: a benchmark of broken work is worthless.
        match codec.decode(&path, &bytes, &models) {
            Ok(back) if back == node => {}
            other => {
                eprintln!("{format}: round trip failed: {other:?}");
                std::process::exit(1);
            }
        }
        let encode_ns = measure(budget, || {
            black_box(codec.encode(&path, black_box(&node), &models).ok());
        });
        let decode_ns = measure(budget, || {
            black_box(codec.decode(&path, black_box(&bytes), &models).ok());
        });
        println!(
            "{{\"scenario\":\"codec\",\"format\":\"{}\",\"code\":{},\"payload_bytes\":{},\"encode_ns\":{:.0},\"decode_ns\":{:.0}}}",
            format.media_type(),
            format.code(),
            bytes.len(),
            encode_ns,
            decode_ns
        );
    }
}
