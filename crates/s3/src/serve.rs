//! [`S3Endpoint`]: the S3 service on its own listener.

use crate::auth::AccessKeys;
use crate::bucket::{ProjectBucket, RESTORE_STARTED};
use crate::multipart::Uploads;
use crate::options::{S3Options, S3OptionsError};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use hyper_util::server::graceful::GracefulShutdown;
use s3s::service::{S3Service, S3ServiceBuilder};
use sluice_io::Storage;
use std::future::Future;
use std::time::Duration;
use tokio::net::TcpListener;

/// Answers 202 Accepted where the bucket marked the response so (see [`RESTORE_STARTED`]):
/// s3s keeps RestoreObject's status at 200 whatever the operation says.
fn accepted(mut response: s3s::HttpResponse) -> s3s::HttpResponse {
    if response.headers_mut().remove(RESTORE_STARTED).is_some() {
        *response.status_mut() = http::StatusCode::ACCEPTED;
    }
    response
}

/// How long open connections may finish their requests after the stop signal.
const DRAIN: Duration = Duration::from_secs(10);

/// The S3-compatible endpoint of a node: one bucket over the project's storage, requests
/// signed with the node's access keys. Cheap to clone.
#[derive(Clone)]
pub struct S3Endpoint {
    service: S3Service,
    bucket: String,
}

impl S3Endpoint {
    /// The endpoint over `storage` with `options` (checked first).
    pub fn new(storage: Storage, options: S3Options) -> Result<S3Endpoint, S3OptionsError> {
        options.validate()?;
        let bucket = ProjectBucket::new(
            options.bucket.clone(),
            storage,
            Uploads::new(options.uploads_dir),
        );
        let mut builder = S3ServiceBuilder::new(bucket);
        builder.set_auth(AccessKeys(options.access_keys));
        Ok(S3Endpoint {
            service: builder.build(),
            bucket: options.bucket,
        })
    }

    /// The name of the bucket served.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Answers S3 requests on `listener` (HTTP/1.1 and HTTP/2) until `stop` completes, then
    /// lets open requests finish for a few seconds.
    pub async fn serve(self, listener: TcpListener, stop: impl Future<Output = ()>) {
        let connections = ConnBuilder::new(TokioExecutor::new());
        let graceful = GracefulShutdown::new();
        let mut stop = std::pin::pin!(stop);
        loop {
            let socket = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((socket, _)) => socket,
                    Err(e) => {
                        tracing::warn!(error = %e, "S3 endpoint: accepting a connection failed");
                        continue;
                    }
                },
                () = stop.as_mut() => break,
            };
            let service = self.service.clone();
            let answer = hyper::service::service_fn(move |request| {
                let service = service.clone();
                async move {
                    service
                        .call(request.map(s3s::Body::from))
                        .await
                        .map(accepted)
                }
            });
            let connection = connections.serve_connection(TokioIo::new(socket), answer);
            let connection = graceful.watch(connection.into_owned());
            tokio::spawn(async move {
                let _ = connection.await;
            });
        }
        let _ = tokio::time::timeout(DRAIN, graceful.shutdown()).await;
    }
}
