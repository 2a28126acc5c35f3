//! `sluice serve --s3-listen`: the node's S3-compatible endpoint over the project's storage.

use crate::app::project_bucket;
use crate::project::Project;
use anyhow::{Context, anyhow};
use sluice_s3::{S3Endpoint, S3Options};
use sluice_server::auth::Credentials;
use std::net::SocketAddr;
use std::path::Path;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Options of `sluice serve` for the S3 endpoint.
#[derive(clap::Args)]
pub struct S3Args {
    /// Serve the S3 protocol over the project's storage on this address (port 0 picks a free
    /// port), for `aws s3`, boto3 and rclone. Needs `--access-keys`.
    #[arg(long)]
    pub s3_listen: Option<SocketAddr>,
    /// The name of the one bucket the S3 endpoint serves (default: the project directory's
    /// name, lower-cased, other characters than letters, digits and `-` made `-`).
    #[arg(long, requires = "s3_listen")]
    pub s3_bucket: Option<String>,
}

/// The endpoint's settings the options ask for, if any, checked: the bucket (`--s3-bucket`,
/// else the project directory's name), the node's access keys, multipart uploads staged under
/// `data_dir`.
pub fn options(
    args: &S3Args,
    project: &Project,
    credentials: &Credentials,
    data_dir: &Path,
) -> anyhow::Result<Option<(S3Options, SocketAddr)>> {
    let Some(listen) = args.s3_listen else {
        return Ok(None);
    };
    let bucket = match &args.s3_bucket {
        Some(name) => name.clone(),
        None => project_bucket(project).map_err(|name| {
            anyhow!(
                "--s3-listen: the project directory's name '{name}' makes no S3 bucket name; give --s3-bucket NAME"
            )
        })?,
    };
    let options = S3Options {
        bucket,
        access_keys: credentials.access_keys.clone(),
        uploads_dir: data_dir.join("s3-uploads"),
    };
    options
        .validate()
        .map_err(|e| anyhow!("--s3-listen {listen}: {e}"))?;
    Ok(Some((options, listen)))
}

/// An endpoint answering on its listener.
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    bucket: String,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Running {
    /// Binds `listen` and serves `endpoint` on it (on the current runtime).
    pub async fn start(endpoint: S3Endpoint, listen: SocketAddr) -> anyhow::Result<Running> {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("--s3-listen {listen}"))?;
        let addr = listener.local_addr()?;
        let bucket = endpoint.bucket().to_string();
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(endpoint.serve(listener, async move {
            let _ = stopped.await;
        }));
        Ok(Running {
            addr,
            bucket,
            stop,
            task,
        })
    }

    /// How the start-up line shows the endpoint.
    pub fn describe(&self) -> String {
        format!(
            "S3: bucket {} on http://{} (AWS_ENDPOINT_URL_S3=http://{})",
            self.bucket, self.addr, self.addr
        )
    }

    /// Stops accepting requests and lets open ones finish.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}
