//! Protobuf and gRPC contracts of the LwM2M cluster.
//!
//! The `.proto` files live in `<workspace>/proto` so non-Rust consumers (Kafka
//! consumers in other languages, grpcurl) use the same source of truth; this
//! crate compiles them and adds conversions to the `lwm2m-core` domain types.
//!
//! - [`events::v1`]: `UplinkEvent`, the envelope every transport node publishes.
//! - [`transport::v1`]: the transport node's gRPC service (client and server).
//! - [`registry::v1`]: the registry's gRPC services (tenants, object models,
//!   device profiles, devices, lookups) and its `RegistryChange` events.
//! - [`dispatch::v1`]: the dispatch service (commands as durable operations,
//!   ThingsBoard RPC JSON, operation lifecycle events).
//! - [`convert`]: `lwm2m_core::Value` ↔ proto `Value`, path parsing.
//! - [`ddf_upload`]: a directory's DDF files grouped into `ImportObjectModels`
//!   uploads (for `lwm2mctl` and the benchmark).
//! - [`FILE_DESCRIPTOR_SET`]: descriptor bytes for gRPC server reflection.

pub mod convert;
pub mod ddf_upload;
pub mod error;
mod event_kind;

pub use error::ProtoError;

/// Generated code of package `lwm2m.events.v1`.
pub mod events {
    /// Version 1 of the uplink event schema.
    pub mod v1 {
        #![allow(clippy::all, missing_docs, rust_2018_idioms)]
        tonic::include_proto!("lwm2m.events.v1");
    }
}

/// Generated code of package `lwm2m.transport.v1`.
pub mod transport {
    /// Version 1 of the transport node service.
    pub mod v1 {
        #![allow(clippy::all, missing_docs, rust_2018_idioms)]
        tonic::include_proto!("lwm2m.transport.v1");
    }
}

/// Generated code of package `lwm2m.registry.v1`.
pub mod registry {
    /// Version 1 of the registry services and change events.
    pub mod v1 {
        #![allow(clippy::all, missing_docs, rust_2018_idioms)]
        tonic::include_proto!("lwm2m.registry.v1");
    }
}

/// Generated code of package `lwm2m.dispatch.v1`.
pub mod dispatch {
    /// Version 1 of the dispatch service and its operation events.
    pub mod v1 {
        #![allow(clippy::all, missing_docs, rust_2018_idioms)]
        tonic::include_proto!("lwm2m.dispatch.v1");
    }
}

/// The encoded `FileDescriptorSet` of every proto in this crate, for
/// `tonic-reflection` (`register_encoded_file_descriptor_set`).
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("lwm2m_descriptor");

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    #[test]
    fn descriptor_set_holds_both_packages_and_the_service() {
        let set = prost_types::FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).unwrap();
        let names: Vec<_> = set.file.iter().filter_map(|f| f.name.as_deref()).collect();
        assert!(names.contains(&"lwm2m/events/v1/events.proto"), "{names:?}");
        assert!(
            names.contains(&"lwm2m/transport/v1/transport.proto"),
            "{names:?}"
        );
        let transport = set
            .file
            .iter()
            .find(|f| f.package.as_deref() == Some("lwm2m.transport.v1"))
            .unwrap();
        let methods: Vec<_> = transport.service[0]
            .method
            .iter()
            .filter_map(|m| m.name.as_deref())
            .collect();
        // Other services may grow; these must stay, in this order.
        assert_eq!(
            methods[..4],
            [
                "ListRegistrations",
                "GetRegistration",
                "Downlink",
                "SubscribeUplinks"
            ]
        );
    }

    #[test]
    fn dispatch_service_is_in_the_descriptor_set() {
        let set = prost_types::FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).unwrap();
        let dispatch = set
            .file
            .iter()
            .find(|f| f.package.as_deref() == Some("lwm2m.dispatch.v1"))
            .unwrap();
        let methods: Vec<_> = dispatch.service[0]
            .method
            .iter()
            .filter_map(|m| m.name.as_deref())
            .collect();
        for name in ["Read", "Call", "ListOperations", "WatchOperations"] {
            assert!(methods.contains(&name), "{methods:?}");
        }
        fn _client(_: dispatch::v1::dispatch_client::DispatchClient<tonic::transport::Channel>) {}
    }

    #[test]
    fn registry_services_are_in_the_descriptor_set() {
        let set = prost_types::FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).unwrap();
        let registry = set
            .file
            .iter()
            .find(|f| f.package.as_deref() == Some("lwm2m.registry.v1"))
            .unwrap();
        let services: Vec<_> = registry
            .service
            .iter()
            .filter_map(|s| s.name.as_deref())
            .collect();
        assert_eq!(
            services,
            [
                "TenantService",
                "ObjectModelService",
                "DeviceProfileService",
                "DeviceService",
                "RegistryLookupService"
            ]
        );
        fn _server<T: registry::v1::device_service_server::DeviceService>(
            _: registry::v1::device_service_server::DeviceServiceServer<T>,
        ) {
        }
    }

    #[test]
    fn client_and_server_are_generated() {
        // Naming the types is the test: it fails to compile if either is missing.
        fn _client(_: transport::v1::transport_client::TransportClient<tonic::transport::Channel>) {
        }
        fn _server<T: transport::v1::transport_server::Transport>(
            _: transport::v1::transport_server::TransportServer<T>,
        ) {
        }
    }
}
