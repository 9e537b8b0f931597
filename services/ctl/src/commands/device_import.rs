//! `devices import`: a CSV uploaded chunk by chunk behind a progress bar,
//! then one result per row with its line in the file.

use lwm2m_proto::registry::v1::*;
use serde_json::{json, Value as Json};

use super::Context;
use crate::clients::Registry;
use crate::csv_chunks;
use crate::error::Error;
use crate::progress;
use crate::table::Table;

/// Uploads the chunks in order, then prints one result per row.
pub async fn import(
    ctx: &Context,
    registry: &mut Registry,
    chunks: Vec<csv_chunks::Chunk>,
    default_profile_id: String,
    update_existing: bool,
) -> Result<(), Error> {
    let total: usize = chunks.iter().map(|c| c.rows).sum();
    let bar = progress::bar(total as u64, "rows");
    let mut report = ImportReport::default();
    for chunk in chunks {
        let answer = registry
            .devices
            .import_devices_csv(ImportDevicesCsvRequest {
                tenant_id: ctx.global.tenant.clone(),
                csv: chunk.csv.clone(),
                default_profile_id: default_profile_id.clone(),
                update_existing,
            })
            .await;
        let answer = match answer {
            Ok(answer) => answer.into_inner(),
            Err(status) => {
                bar.abandon();
                if !report.rows.is_empty() {
                    eprintln!(
                        "lwm2mctl: stopped after {} of {total} rows (those are stored)",
                        report.rows.len()
                    );
                }
                return Err(status.into());
            }
        };
        for mut row in answer.rows {
            row.line = chunk.file_line(row.line);
            report.rows.push(row);
        }
        bar.inc(chunk.rows as u64);
    }
    bar.finish_and_clear();
    if ctx.global.json {
        ctx.print_json(&report.json());
    } else {
        print!("{}", report.table());
        println!("{}", report.summary());
    }
    match report.count(CsvRowStatus::Failed) {
        0 => Ok(()),
        failed => Err(Error::Partial {
            failed,
            total: report.rows.len(),
            what: "rows",
        }),
    }
}

#[derive(Default)]
struct ImportReport {
    rows: Vec<CsvRowResult>,
}

impl ImportReport {
    fn count(&self, status: CsvRowStatus) -> usize {
        self.rows.iter().filter(|r| r.status() == status).count()
    }

    fn status_name(row: &CsvRowResult) -> &'static str {
        let name = row.status().as_str_name();
        name.strip_prefix("CSV_ROW_STATUS_").unwrap_or(name)
    }

    fn json(&self) -> Json {
        let rows: Vec<Json> = self
            .rows
            .iter()
            .map(|r| {
                json!({
                    "line": r.line,
                    "endpoint": r.endpoint,
                    "status": Self::status_name(r),
                    "message": r.message,
                })
            })
            .collect();
        json!({
            "rows": rows,
            "created": self.count(CsvRowStatus::Created),
            "updated": self.count(CsvRowStatus::Updated),
            "unchanged": self.count(CsvRowStatus::Unchanged),
            "failed": self.count(CsvRowStatus::Failed),
        })
    }

    fn table(&self) -> String {
        let mut table = Table::new(&["LINE", "ENDPOINT", "STATUS", "MESSAGE"]);
        for r in &self.rows {
            table.row(vec![
                r.line.to_string(),
                r.endpoint.clone(),
                Self::status_name(r).to_owned(),
                r.message.clone(),
            ]);
        }
        table.render()
    }

    fn summary(&self) -> String {
        format!(
            "{} rows: {} created, {} updated, {} unchanged, {} failed",
            self.rows.len(),
            self.count(CsvRowStatus::Created),
            self.count(CsvRowStatus::Updated),
            self.count(CsvRowStatus::Unchanged),
            self.count(CsvRowStatus::Failed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(line: u32, endpoint: &str, status: CsvRowStatus, message: &str) -> CsvRowResult {
        CsvRowResult {
            line,
            endpoint: endpoint.into(),
            status: status as i32,
            message: message.into(),
        }
    }

    #[test]
    fn the_import_report_has_a_line_per_row_and_counts() {
        let report = ImportReport {
            rows: vec![
                row(2, "a", CsvRowStatus::Created, ""),
                row(
                    3,
                    "b",
                    CsvRowStatus::Failed,
                    "column \"lwm2m psk_key\": bad",
                ),
            ],
        };
        assert_eq!(
            report.table(),
            "LINE  ENDPOINT  STATUS   MESSAGE\n\
             2     a         CREATED\n\
             3     b         FAILED   column \"lwm2m psk_key\": bad\n"
        );
        assert_eq!(
            report.summary(),
            "2 rows: 1 created, 0 updated, 0 unchanged, 1 failed"
        );
        let json = report.json();
        assert_eq!(json["failed"], 1);
        assert_eq!(json["rows"][1]["status"], "FAILED");
        assert_eq!(json["rows"][1]["line"], 3);
    }
}
