//! The S3 endpoint over an S3 storage (a real `s3s-fs` server), driven by `object_store`'s S3
//! client: what a client writes is what the storage holds, with S3's entity tags end to end.

use bytes::Bytes;
use md5::{Digest, Md5};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use sluice_io::testing::S3Server;
use sluice_io::{ObjectRef, Storage, StorageError};
use sluice_s3::{S3Endpoint, S3Options};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use tokio::sync::oneshot;

const MIB: usize = 1024 * 1024;

/// A client of the endpoint at `addr`, signing with `secret`.
fn client(addr: SocketAddr, secret: &str) -> AmazonS3 {
    AmazonS3Builder::new()
        .with_endpoint(format!("http://{addr}"))
        .with_bucket_name("lake")
        .with_region("us-east-1")
        .with_access_key_id("id")
        .with_secret_access_key(secret)
        .with_allow_http(true)
        .with_virtual_hosted_style_request(false)
        .build()
        .unwrap()
}

fn quoted_md5(data: &[u8]) -> String {
    let digest: [u8; 16] = Md5::digest(data).into();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// Bytes that differ from one position to the next.
fn data(len: usize, seed: u8) -> Bytes {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_storage_is_served_with_s3_entity_tags() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("s3");
    let Some(backend) = S3Server::start(&root, "the S3 endpoint over an S3 storage") else {
        return;
    };
    std::fs::create_dir_all(root.join("data")).unwrap();
    let storage = Storage::from_url(&backend.storage_url("data", "sluice"), tmp.path()).unwrap();
    let options = S3Options {
        bucket: "lake".into(),
        access_keys: BTreeMap::from([("id".to_string(), "secret".to_string())]),
        uploads_dir: tmp.path().join("uploads"),
    };
    let endpoint = S3Endpoint::new(storage.clone(), options).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let served = tokio::spawn(endpoint.serve(listener, async move {
        let _ = stopped.await;
    }));
    let s3 = client(addr, "secret");

    // A put answers the body's MD5, lands in the storage as flows see it, and reads back.
    let small = data(100_000, 1);
    let path = Path::from("raw/small.bin");
    let put = s3
        .put(&path, PutPayload::from(small.clone()))
        .await
        .unwrap();
    assert_eq!(put.e_tag.as_deref(), Some(quoted_md5(&small).as_str()));
    let seen = storage
        .get(&ObjectRef::new("raw", "small.bin").unwrap())
        .await
        .unwrap();
    assert_eq!(seen.data, small);
    let head = s3.head(&path).await.unwrap();
    assert_eq!((head.size, head.e_tag), (100_000, put.e_tag));
    let range = s3.get_range(&path, 10..20).await.unwrap();
    assert_eq!(range, small.slice(10..20));

    // A multipart upload: 5 MiB parts and a tail, tagged MD5-of-MD5s with the part count.
    let big = data(12 * MIB, 2);
    let mut upload = s3.put_multipart(&Path::from("raw/big.bin")).await.unwrap();
    let mut digests = Vec::new();
    for chunk in big.chunks(5 * MIB) {
        digests.extend_from_slice(&Md5::digest(chunk));
        upload
            .put_part(PutPayload::from(Bytes::copy_from_slice(chunk)))
            .await
            .unwrap();
    }
    let done = upload.complete().await.unwrap();
    let expected = quoted_md5(&digests).replace("\"", "");
    assert_eq!(done.e_tag, Some(format!("\"{expected}-3\"")));
    let seen = storage
        .get(&ObjectRef::new("raw", "big.bin").unwrap())
        .await
        .unwrap();
    assert!(seen.data == big, "the assembled object differs");

    // Listings roll up at `/`; deletes reach the storage.
    let listed = s3.list_with_delimiter(None).await.unwrap();
    let prefixes: Vec<&str> = listed.common_prefixes.iter().map(|p| p.as_ref()).collect();
    assert_eq!(prefixes, ["raw"]);
    s3.delete(&path).await.unwrap();
    let gone = storage
        .head(&ObjectRef::new("raw", "small.bin").unwrap(), None)
        .await;
    assert!(
        matches!(gone, Err(StorageError::NotFound { .. })),
        "{gone:?}"
    );

    // A wrong secret is refused.
    let refused = client(addr, "wrong").head(&Path::from("raw/big.bin")).await;
    assert!(refused.is_err(), "{refused:?}");

    let _ = stop.send(());
    served.await.unwrap();
}
