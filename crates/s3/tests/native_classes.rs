//! Native storage classes and restores: a storage on an S3 URL sends `x-amz-storage-class`,
//! CopyObject and RestoreObject to its server and reads HeadObject's `x-amz-storage-class` and
//! `x-amz-restore`. The server here is the project's own S3 endpoint over a local directory,
//! whose classes are emulated with a short restore delay; `s3s-fs`, which has neither archive
//! classes nor RestoreObject, answers with errors that say how to emulate them instead.

use serde_json::{Value, json};
use sluice_engine::invoke::{InvokeFuture, InvokeRequest, Invoker, Target, TaskError};
use sluice_io::testing::S3Server;
use sluice_io::{
    ClassMode, ObjectIntegrations, ObjectOptions, ObjectRef, RestoreStarted, RestoreStatus,
    Storage, StorageClass, StorageError,
};
use sluice_s3::{S3Endpoint, S3Options};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// How long an emulated restore stays ongoing on the server.
const RESTORE_DELAY: Duration = Duration::from_millis(1500);

/// Answers every call that is not an object integration with a failure.
struct NoFunctions;

impl Invoker for NoFunctions {
    fn invoke(&self, request: InvokeRequest) -> InvokeFuture {
        Box::pin(async move {
            Err(TaskError {
                error: "Unexpected".into(),
                cause: format!("{:?} is not an object integration", request.target),
            })
        })
    }
}

/// Calls the object integration `action` (`aws-sdk:s3:ACTION`) on `storage`.
async fn call(storage: &Storage, action: &str, payload: Value) -> Result<Value, TaskError> {
    let resource = format!("arn:aws:states:::aws-sdk:s3:{action}");
    ObjectIntegrations::new(storage.clone(), Arc::new(NoFunctions))
        .invoke(InvokeRequest {
            target: Target::Integration(resource.clone()),
            resource,
            payload,
            idempotency_key: "k".into(),
            execution: "e".into(),
            timeout_seconds: None,
        })
        .await
}

/// A storage keeping classes in a fresh SQLite store under `dir`, as `classes` says.
fn classified(storage: Storage, dir: &Path, classes: ClassMode) -> Storage {
    let store = sluice_store::SqliteStore::open(&dir.join("state.db")).unwrap();
    let options = ObjectOptions {
        classes,
        restore_delay: RESTORE_DELAY,
        ..ObjectOptions::default()
    };
    storage.with_classes(Arc::new(store), options).unwrap()
}

fn object(path: &str) -> ObjectRef {
    ObjectRef::parse(path).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classes_and_restores_go_to_the_s3_server() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("server")).unwrap();
    let served = Storage::from_url("file://./objects", tmp.path()).unwrap();
    let served = classified(served, &tmp.path().join("server"), ClassMode::Auto);
    assert!(!served.native_classes(), "a local directory emulates them");
    let endpoint = S3Endpoint::new(
        served.clone(),
        S3Options {
            bucket: "lake".into(),
            access_keys: BTreeMap::from([("id".to_string(), "secret".to_string())]),
            uploads_dir: tmp.path().join("uploads"),
        },
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let serving = tokio::spawn(endpoint.serve(listener, async move {
        let _ = stopped.await;
    }));

    // A second node's storage: the endpoint's bucket, under the folder `node`.
    std::fs::create_dir_all(tmp.path().join("client")).unwrap();
    let url = format!(
        "s3://lake/node?endpoint=http://{addr}&region=us-east-1&path_style=true\
         &access_key_id=id&secret_access_key=secret"
    );
    let storage = Storage::from_url(&url, tmp.path()).unwrap();
    let storage = classified(storage, &tmp.path().join("client"), ClassMode::Auto);
    assert!(
        storage.native_classes(),
        "an S3 storage's classes are native"
    );

    let source = object("src/a b+c.txt");
    let archived = object("arch/a b+c.txt");
    storage
        .put(&source, bytes::Bytes::from("cold data"))
        .await
        .unwrap();
    let copied = storage
        .copy_in(&source, &archived, StorageClass::Archive)
        .await
        .unwrap();
    assert_eq!(copied.storage_class, StorageClass::Archive);

    // The server holds the class: its own storage says so, under the client's folder.
    let on_server = served
        .head(&object("node/arch/a b+c.txt"), None)
        .await
        .unwrap();
    assert_eq!(on_server.storage_class, StorageClass::Archive);
    let head = storage.head(&archived, None).await.unwrap();
    assert_eq!(
        (head.storage_class, head.restore, head.size),
        (StorageClass::Archive, None, 9)
    );

    // Reading it is refused until it is restored, named as the SDK integrations name it.
    let refused = storage.get(&archived).await.unwrap_err();
    assert!(
        matches!(&refused, StorageError::InvalidObjectState { path, .. } if path == "arch/a b+c.txt"),
        "{refused}"
    );
    let params = json!({"Bucket": "arch", "Key": "a b+c.txt"});
    let refused = call(&storage, "getObject", params.clone())
        .await
        .unwrap_err();
    assert_eq!(
        refused.error, "S3.InvalidObjectStateException",
        "{refused:?}"
    );
    let missing = call(
        &storage,
        "getObject",
        json!({"Bucket": "arch", "Key": "none"}),
    )
    .await
    .unwrap_err();
    assert_eq!(missing.error, "S3.NoSuchKeyException", "{missing:?}");
    let copy_refused = storage
        .copy(&archived, &object("arch/again.txt"))
        .await
        .unwrap_err();
    assert!(
        matches!(copy_refused, StorageError::InvalidObjectState { .. }),
        "{copy_refused}"
    );
    let listed = call(&storage, "listObjectsV2", json!({"Bucket": "arch"}))
        .await
        .unwrap();
    assert_eq!(listed["Contents"][0]["Key"], "a b+c.txt", "{listed}");
    assert_eq!(listed["Contents"][0]["StorageClass"], "ARCHIVE", "{listed}");
    let listed = call(&storage, "listObjectsV2", json!({"Bucket": "src"}))
        .await
        .unwrap();
    assert_eq!(
        listed["Contents"][0]["StorageClass"], "STANDARD",
        "{listed}"
    );

    // A restore is ongoing, then done with an expiry `Days` away, then the object reads.
    let bad_tier = json!({"Bucket": "arch", "Key": "a b+c.txt",
        "RestoreRequest": {"Days": 2, "GlacierJobParameters": {"Tier": "Fast"}}});
    let refused = call(&storage, "restoreObject", bad_tier).await.unwrap_err();
    assert!(
        refused.cause.contains("unknown restore tier 'Fast'"),
        "{refused:?}"
    );
    let restore = json!({"Bucket": "arch", "Key": "a b+c.txt",
        "RestoreRequest": {"Days": 2, "GlacierJobParameters": {"Tier": "Bulk"}}});
    assert_eq!(
        call(&storage, "restoreObject", restore.clone())
            .await
            .unwrap(),
        json!({})
    );
    let head = call(&storage, "headObject", params.clone()).await.unwrap();
    assert_eq!(head["StorageClass"], "ARCHIVE", "{head}");
    assert_eq!(head["Restore"], "ongoing-request=\"true\"", "{head}");
    let again = storage.restore(&archived, 2).await.unwrap_err();
    assert!(
        matches!(again, StorageError::RestoreInProgress { .. }),
        "{again}"
    );
    let again = call(&storage, "restoreObject", restore).await.unwrap_err();
    assert_eq!(again.error, "S3.S3Exception", "{again:?}");
    assert!(again.cause.contains("Status Code: 409"), "{again:?}");
    let deadline = Instant::now() + RESTORE_DELAY * 20;
    let expiry = loop {
        let info = storage.head(&archived, None).await.unwrap();
        if let Some(RestoreStatus::Restored { expiry }) = info.restore {
            break expiry;
        }
        assert_eq!(info.restore, Some(RestoreStatus::Ongoing));
        assert!(Instant::now() < deadline, "the restore never ended");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let hours = (expiry - chrono::Utc::now()).num_hours();
    assert!((47..=48).contains(&hours), "expires in {hours} hours");
    let head = call(&storage, "headObject", params.clone()).await.unwrap();
    let shown = head["Restore"].as_str().unwrap();
    assert!(
        shown.starts_with("ongoing-request=\"false\", expiry-date=\""),
        "{head}"
    );
    let read = call(&storage, "getObject", params).await.unwrap();
    assert_eq!(read["Body"], "cold data");
    assert_eq!(
        &storage.get(&archived).await.unwrap().data[..],
        b"cold data"
    );
    assert_eq!(
        storage.restore(&archived, 3).await.unwrap(),
        RestoreStarted::AlreadyRestored
    );

    // A put names its class too; an object that is not archived cannot be restored.
    let glacier = object("arch/put.txt");
    storage
        .put_in(&glacier, bytes::Bytes::from("x"), StorageClass::Glacier)
        .await
        .unwrap();
    let head = storage.head(&glacier, None).await.unwrap();
    assert_eq!(head.storage_class, StorageClass::Glacier);
    let standard = storage.restore(&source, 1).await.unwrap_err();
    assert!(
        matches!(standard, StorageError::InvalidObjectState { .. }),
        "{standard}"
    );
    let missing = storage.restore(&object("arch/none"), 1).await.unwrap_err();
    assert!(missing.is_not_found(), "{missing}");

    stop.send(()).unwrap();
    serving.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3s_fs_answers_native_classes_with_a_way_out() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("s3");
    let Some(server) = S3Server::start(&root, "native classes on s3s-fs") else {
        return;
    };
    std::fs::create_dir_all(root.join("data")).unwrap();
    let storage = Storage::from_url(&server.storage_url("data", "sluice"), tmp.path()).unwrap();
    let storage = classified(storage, tmp.path(), ClassMode::Auto);
    let plain = object("raw/a.txt");
    storage
        .put(&plain, bytes::Bytes::from("data"))
        .await
        .unwrap();
    assert_eq!(
        storage.head(&plain, None).await.unwrap().storage_class,
        StorageClass::Standard
    );
    let refused = storage
        .put_in(
            &object("raw/b.txt"),
            bytes::Bytes::from("x"),
            StorageClass::Glacier,
        )
        .await
        .unwrap_err();
    eprintln!("s3s-fs, put in GLACIER: {refused}");
    assert!(
        refused.to_string().contains("classes: emulated"),
        "{refused}"
    );
    let refused = storage.restore(&plain, 1).await.unwrap_err();
    eprintln!("s3s-fs, restore: {refused}");
    assert!(
        matches!(&refused, StorageError::Unsupported { reason, .. }
            if reason.contains("RestoreObject") && reason.contains("classes: emulated")),
        "{refused}"
    );
    let refused = call(
        &storage,
        "restoreObject",
        json!({"Bucket": "raw", "Key": "a.txt"}),
    )
    .await
    .unwrap_err();
    assert_eq!(refused.error, "S3.S3Exception", "{refused:?}");
}
