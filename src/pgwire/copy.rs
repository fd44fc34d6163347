//! COPY over the wire. `COPY assertions FROM STDIN` switches the connection
//! to copy-in mode; each CopyData chunk goes to the session's decoder and
//! CopyDone commits every row at once. `COPY … TO STDOUT` streams rows as
//! text or CSV lines.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use datafusion::execution::SendableRecordBatchStream;
use futures::{Sink, SinkExt, Stream, StreamExt, stream};
use pgwire::api::ClientInfo;
use pgwire::api::copy::CopyHandler;
use pgwire::api::results::{
    CopyCsvOptions, CopyEncoder, CopyResponse, CopyTextOptions, FieldFormat, FieldInfo, Tag,
};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::copy::{CopyData, CopyDone, CopyFail};

use super::Backend;
use super::encode::{self, encode_row};
use super::errors::to_pg;
use crate::planner::{CopyFormat, CopyOptions, from_datafusion};

#[async_trait]
impl CopyHandler for Backend {
    async fn on_copy_data<C>(&self, client: &mut C, copy_data: CopyData) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        self.session(client).copy_data(copy_data.data).await;
        Ok(())
    }

    async fn on_copy_done<C>(&self, client: &mut C, _done: CopyDone) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let rows = self.session(client).copy_done().await.map_err(to_pg)?;
        let tag = Tag::new("COPY").with_rows(rows);
        client
            .send(PgWireBackendMessage::CommandComplete(tag.into()))
            .await?;
        Ok(())
    }

    async fn on_copy_fail<C>(&self, client: &mut C, fail: CopyFail) -> PgWireError
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        to_pg(self.session(client).copy_fail(&fail.message))
    }
}

/// The CopyOutResponse and its data for `COPY … TO STDOUT`.
pub fn copy_out(rows: SendableRecordBatchStream, options: &CopyOptions) -> CopyResponse {
    let schema = rows.schema();
    let fields: Arc<Vec<FieldInfo>> = Arc::new(
        encode::fields(&schema, &pgwire::api::portal::Format::UnifiedText)
            .into_iter()
            .map(|f| {
                FieldInfo::new(
                    f.name().to_string(),
                    None,
                    None,
                    f.datatype().clone(),
                    FieldFormat::Text,
                )
            })
            .collect(),
    );
    let delimiter = (options.delimiter as char).to_string();
    let make_encoder = {
        let (fields, options, delimiter) = (fields.clone(), options.clone(), delimiter.clone());
        move || match options.format {
            CopyFormat::Text => CopyEncoder::new_text(
                fields.clone(),
                CopyTextOptions {
                    delimiter: delimiter.as_str().into(),
                    null_string: options.null.as_str().into(),
                },
            ),
            CopyFormat::Csv => CopyEncoder::new_csv(
                fields.clone(),
                CopyCsvOptions {
                    delimiter: delimiter.as_str().into(),
                    quote: (options.quote as char).to_string().as_str().into(),
                    escape: (options.escape as char).to_string().as_str().into(),
                    null_string: options.null.as_str().into(),
                    force_quote: vec![],
                },
            ),
        }
    };
    let header = (options.header && options.format == CopyFormat::Csv).then(|| {
        let names: Vec<&str> = schema
            .fields()
            .iter()
            .map(|f| crate::planner::display_name(f.name()))
            .collect();
        Ok(CopyData::new(Bytes::from(format!(
            "{}\n",
            names.join(&delimiter)
        ))))
    });
    let data = rows.flat_map(move |batch| {
        let lines: Vec<PgWireResult<CopyData>> = match batch {
            Err(e) => vec![Err(to_pg(from_datafusion(&e)))],
            Ok(batch) => {
                let mut encoder = make_encoder();
                (0..batch.num_rows())
                    .map(|row| {
                        encode_row(&mut encoder, batch.columns(), row, |_| true)?;
                        Ok(encoder.take_copy())
                    })
                    .collect()
            }
        };
        stream::iter(lines)
    });
    let all: std::pin::Pin<Box<dyn Stream<Item = PgWireResult<CopyData>> + Send>> =
        Box::pin(stream::iter(header).chain(data));
    CopyResponse::new(0, fields.len(), all)
}
