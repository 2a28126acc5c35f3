//! [`AccessKeys`]: the node's access keys as s3s checks Signature Version 4 against them.

use s3s::auth::{S3Auth, SecretKey};
use s3s::{S3Result, s3_error};
use std::collections::BTreeMap;

/// Secret keys by access key id; an unknown id is `InvalidAccessKeyId`, as on S3.
pub(crate) struct AccessKeys(pub BTreeMap<String, String>);

#[async_trait::async_trait]
impl S3Auth for AccessKeys {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        match self.0.get(access_key) {
            Some(secret) => Ok(secret.clone().into()),
            None => Err(s3_error!(
                InvalidAccessKeyId,
                "The AWS Access Key Id you provided does not exist in our records: {access_key}"
            )),
        }
    }
}
