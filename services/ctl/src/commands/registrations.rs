//! Live registrations as the transport sees them.

use lwm2m_proto::transport::v1::{GetRegistrationRequest, ListRegistrationsRequest, Registration};

use super::Context;
use crate::cli::RegistrationsCommand;
use crate::clients::Transport;
use crate::error::Error;
use crate::render;

pub async fn run(ctx: &Context, command: RegistrationsCommand) -> Result<(), Error> {
    let mut client = ctx.transport().await?;
    match command {
        RegistrationsCommand::List { prefix } => {
            let all = list_all(&mut client, prefix).await?;
            if ctx.global.json {
                let list: Vec<_> = all.iter().map(render::registration_json).collect();
                ctx.print_json(&serde_json::Value::Array(list));
            } else {
                print!("{}", render::registrations_table(&all));
            }
        }
        RegistrationsCommand::Get { endpoint } => {
            let reg = client
                .get_registration(GetRegistrationRequest {
                    endpoint,
                    tenant: String::new(),
                })
                .await?
                .into_inner();
            let json = render::registration_json(&reg);
            if ctx.global.json {
                ctx.print_json(&json);
            } else {
                println!("{json:#}");
            }
        }
    }
    Ok(())
}

/// Every registration, all pages.
pub async fn list_all(
    client: &mut Transport,
    prefix: Option<String>,
) -> Result<Vec<Registration>, Error> {
    let mut all = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_registrations(ListRegistrationsRequest {
                endpoint_prefix: prefix.clone(),
                tenant: None,
                page_size: 500,
                page_token,
            })
            .await?
            .into_inner();
        all.extend(page.registrations);
        if page.next_page_token.is_empty() {
            return Ok(all);
        }
        page_token = page.next_page_token;
    }
}
