//! What `zenreg image` needs of a registry beyond pushing: a manifest read back with its media
//! type and exact bytes, a blob read as a stream, the tag list with its `Link` pagination,
//! manifest `DELETE`, the OCI 1.1 referrers API, and a manifest `PUT` that tells whether the
//! registry took note of its `subject`.
//!
//! The same rules as the rest of the client hold: credentials only to the registry's origin
//! (a `Link` to another origin is refused), every body read into memory is capped, control
//! requests have the control deadline, a blob stream has the progress timeout per chunk and no
//! whole-request deadline, and retries draw on the shared budget.

use super::{Failure, MANIFEST_MAX, Registry, read_capped, same_origin, sanitized, seconds, shown_url};
use crate::oci::digest::sha256;
use crate::oci::error::{Cause, OciError};
use crate::oci::media;
use bytes::Bytes;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, LINK};
use reqwest::{Response, StatusCode, Url};
use std::time::Duration;

/// Every manifest media type zenreg reads, as an `Accept` header.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json";

/// Pages of a tag list or referrers list followed at most (a registry that links forever).
const PAGES_MAX: usize = 10_000;

/// A manifest (or index) as the registry holds it.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// Its media type (the `Content-Type` the registry served, else what its bytes say).
    pub media_type: String,
    /// `sha256:…` of its bytes.
    pub digest: String,
    /// Its exact bytes.
    pub bytes: Bytes,
}

/// A blob being read: chunks as they arrive, each within the progress timeout.
pub struct BlobReader {
    response: Response,
    progress: Duration,
    host: String,
    what: String,
    /// The size the registry announced, if it did.
    pub size: Option<u64>,
}

impl BlobReader {
    /// The next chunk, `None` at the end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, OciError> {
        match tokio::time::timeout(self.progress, self.response.chunk()).await {
            Err(_) => Err(OciError::TimedOut {
                host: self.host.clone(),
                what: self.what.clone(),
                waited: format!("no bytes arrived for {}", seconds(self.progress)),
            }),
            Ok(Ok(chunk)) => Ok(chunk),
            Ok(Err(error)) => Err(OciError::Unavailable {
                host: self.host.clone(),
                what: self.what.clone(),
                cause: Cause::Transport(sanitized(error)),
            }),
        }
    }
}

/// The `next` target of a `Link` header (`<url>; rel="next"`).
fn next_link(value: &str) -> Option<&str> {
    value.split(',').find_map(|part| {
        let (target, params) = part.trim().split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        params
            .split(';')
            .any(|p| {
                let p = p.trim().replace(' ', "");
                p.eq_ignore_ascii_case("rel=\"next\"") || p.eq_ignore_ascii_case("rel=next")
            })
            .then_some(target)
    })
}

/// A media type without its parameters, or `None` for one that says nothing of a manifest.
fn manifest_type(value: &str) -> Option<String> {
    let value = value.split(';').next().unwrap_or_default().trim();
    (!value.is_empty() && value != "application/json" && value != "application/octet-stream" && value != "text/plain")
        .then(|| value.to_string())
}

impl Registry {
    /// Manifest `reference` (a tag or a digest) with its media type and exact bytes, or `None`
    /// when the repository has no such manifest. A manifest asked for by digest must hash to it.
    pub async fn get_manifest(&self, reference: &str) -> Result<Option<Fetched>, OciError> {
        let url = self.url(&format!("v2/{}/manifests/{reference}", self.repository))?;
        let what = format!("GET manifest {}:{reference}", self.repository);
        let response = self.send(&what, &[200, 404], |h| h.get(url.clone()).header("accept", MANIFEST_ACCEPT)).await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let served = response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).and_then(manifest_type);
        let cap = usize::try_from(MANIFEST_MAX).unwrap_or(usize::MAX);
        let bytes = match read_capped(response, cap).await {
            Ok(Some(bytes)) => Bytes::from(bytes),
            Ok(None) => return Err(self.untrusted(&what, format!("the manifest is over {MANIFEST_MAX} bytes"))),
            Err(error) => return Err(self.unavailable(&what, sanitized(error))),
        };
        let digest = sha256(&bytes);
        if reference.starts_with("sha256:") && reference != digest {
            return Err(self.untrusted(&what, format!("the registry served a manifest whose digest is {digest}")));
        }
        let media_type = served
            .or_else(|| media::manifest_media_type(&bytes))
            .ok_or_else(|| self.rejected(&what, 200, "the answer is not a manifest".into()))?;
        Ok(Some(Fetched { media_type, digest, bytes }))
    }

    /// Starts reading blob `digest`; `None` when the repository does not have it. Only the
    /// answer's headers have the control deadline: the body streams with the progress timeout
    /// on each chunk, however long an honest download takes.
    pub async fn read_blob(&self, digest: &str) -> Result<Option<BlobReader>, OciError> {
        let url = self.url(&format!("v2/{}/blobs/{digest}", self.repository))?;
        let what = format!("GET blob {digest}");
        let mut renewed = false;
        let mut attempt = 0;
        let mut timeouts = 0;
        loop {
            self.fresh().await?;
            let sent =
                tokio::time::timeout(self.policy.request, self.execute_attempt(self.http.get(url.clone()), attempt))
                    .await;
            let (cause, retry_after) = match sent {
                Err(_) => {
                    timeouts += 1;
                    let waited = format!("no answer within {}", seconds(self.policy.request));
                    if timeouts > 1 {
                        return Err(self.timed_out(&what, waited));
                    }
                    (Cause::Waited { waited }, None)
                }
                Ok(Ok(response)) if response.status() == StatusCode::NOT_FOUND => return Ok(None),
                Ok(Ok(response)) if response.status() == StatusCode::OK => {
                    let size = response
                        .headers()
                        .get(CONTENT_LENGTH)
                        .and_then(|v| v.to_str().ok())
                        .and_then(crate::oci::wire::decimal);
                    return Ok(Some(BlobReader {
                        response,
                        progress: self.policy.progress,
                        host: self.host.clone(),
                        what,
                        size,
                    }));
                }
                Ok(Ok(response)) if response.status() == StatusCode::UNAUTHORIZED && !renewed => {
                    renewed = true;
                    self.renew(&response, &what).await?;
                    continue;
                }
                Ok(Ok(response)) => match self.failure(&what, response).await {
                    Failure::Retry { cause, retry_after } => (cause, retry_after),
                    Failure::Final(error) => return Err(error),
                },
                Ok(Err(error)) => (self.transport_failure(&what, error, &mut timeouts, self.policy.request)?, None),
            };
            if !self.pause(attempt, retry_after, &cause.to_string()).await {
                return Err(self.unavailable(&what, cause));
            }
            attempt += 1;
        }
    }

    /// The bodies of a paginated list: `first`, then every `Link: <…>; rel="next"` on the
    /// registry's own origin (another origin is refused: it would get nothing, and a list is
    /// the registry's to give). 404 ends with `None` before any page.
    async fn pages(&self, first: Url, what: &str, accept: Option<&str>) -> Result<Option<Vec<Bytes>>, OciError> {
        let mut url = first;
        let mut pages = Vec::new();
        let mut seen = std::collections::HashSet::new();
        loop {
            let response = self
                .send(what, &[200, 404], |h| {
                    let request = h.get(url.clone());
                    match accept {
                        Some(accept) => request.header("accept", accept),
                        None => request,
                    }
                })
                .await?;
            if response.status() == StatusCode::NOT_FOUND {
                return Ok(if pages.is_empty() { None } else { Some(pages) });
            }
            let next =
                response.headers().get(LINK).and_then(|v| v.to_str().ok()).and_then(next_link).map(str::to_string);
            let cap = usize::try_from(MANIFEST_MAX).unwrap_or(usize::MAX);
            match read_capped(response, cap).await {
                Ok(Some(body)) => pages.push(Bytes::from(body)),
                Ok(None) => return Err(self.untrusted(what, format!("a page is over {MANIFEST_MAX} bytes"))),
                Err(error) => return Err(self.unavailable(what, sanitized(error))),
            }
            let Some(next) = next else { return Ok(Some(pages)) };
            let next_url = self.base.join(&next).map_err(|e| self.rejected(what, 200, format!("a bad Link: {e}")))?;
            if !same_origin(&next_url, &self.base) {
                return Err(self.untrusted(
                    what,
                    format!(
                        "the next page `{}` is on another origin; zenreg sends nothing there",
                        shown_url(&next_url)
                    ),
                ));
            }
            if pages.len() >= PAGES_MAX || !seen.insert(next_url.to_string()) {
                return Ok(Some(pages));
            }
            url = next_url;
        }
    }

    /// The repository's tags, every page followed (`page` tags a page, `n=`, when given).
    /// A repository the registry does not know is `Rejected` with status 404.
    pub async fn tags(&self, page: Option<u32>) -> Result<Vec<String>, OciError> {
        #[derive(serde::Deserialize)]
        struct List {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let mut url = self.url(&format!("v2/{}/tags/list", self.repository))?;
        if let Some(n) = page {
            url.query_pairs_mut().append_pair("n", &n.to_string());
        }
        let what = format!("GET tags of {}", self.repository);
        let Some(pages) = self.pages(url, &what, None).await? else {
            return Err(self.rejected(&what, 404, "NAME_UNKNOWN: the repository is not known".into()));
        };
        let mut tags = Vec::new();
        for body in pages {
            let list: List = serde_json::from_slice(&body)
                .map_err(|e| self.rejected(&what, 200, format!("the tag list is not JSON: {e}")))?;
            tags.extend(list.tags.unwrap_or_default());
        }
        Ok(tags)
    }

    /// Deletes manifest `digest` (a registry deletes by digest only). A registry with deletes
    /// disabled answers 405: `Rejected` with that status.
    pub async fn delete_manifest(&self, digest: &str) -> Result<(), OciError> {
        let url = self.url(&format!("v2/{}/manifests/{digest}", self.repository))?;
        let what = format!("DELETE manifest {}@{digest}", self.repository);
        self.send(&what, &[200, 202, 204], |h| h.delete(url.clone())).await.map(drop)
    }

    /// The descriptors of what refers to manifest `digest` (the OCI 1.1 referrers API), of
    /// `artifact_type` when given (filtered here if the registry did not); `None` when the
    /// registry has no referrers API (it answers 404, which the spec forbids to one that has).
    pub async fn referrers(
        &self,
        digest: &str,
        artifact_type: Option<&str>,
    ) -> Result<Option<Vec<serde_json::Value>>, OciError> {
        let mut url = self.url(&format!("v2/{}/referrers/{digest}", self.repository))?;
        if let Some(artifact_type) = artifact_type {
            url.query_pairs_mut().append_pair("artifactType", artifact_type);
        }
        let what = format!("GET referrers of {}@{digest}", self.repository);
        let Some(pages) = self.pages(url, &what, Some(media::OCI_INDEX)).await? else { return Ok(None) };
        let mut found = Vec::new();
        for body in pages {
            let index: serde_json::Value = serde_json::from_slice(&body)
                .map_err(|e| self.rejected(&what, 200, format!("the referrers index is not JSON: {e}")))?;
            let manifests = index.get("manifests").and_then(serde_json::Value::as_array).cloned().unwrap_or_default();
            found.extend(manifests.into_iter().filter(|d| {
                artifact_type.is_none_or(|t| d.get("artifactType").and_then(serde_json::Value::as_str) == Some(t))
            }));
        }
        Ok(Some(found))
    }

    /// Puts a manifest as [`put_manifest`](Self::put_manifest) does and also returns the
    /// `OCI-Subject` the registry answered with (it processed the manifest's `subject` for its
    /// referrers API: no fallback tag is needed).
    pub async fn put_manifest_with_subject(
        &self,
        reference: &str,
        media_type: &str,
        bytes: Bytes,
    ) -> Result<(String, Option<String>), OciError> {
        let digest = sha256(&bytes);
        let url = self.url(&format!("v2/{}/manifests/{reference}", self.repository))?;
        let what = format!("PUT manifest {}:{reference}", self.repository);
        let response = self
            .send(&what, &[200, 201], |h| h.put(url.clone()).header(CONTENT_TYPE, media_type).body(bytes.clone()))
            .await?;
        if let Some(served) = response.headers().get("docker-content-digest").and_then(|v| v.to_str().ok())
            && served != digest
        {
            return Err(self.rejected(
                &what,
                response.status().as_u16(),
                format!("the registry stored {served}, zenreg sent {digest}"),
            ));
        }
        let subject = response.headers().get("oci-subject").and_then(|v| v.to_str().ok()).map(str::to_string);
        Ok((digest, subject))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_next_link() {
        assert_eq!(next_link(r#"</v2/a/tags/list?n=2&last=b>; rel="next""#), Some("/v2/a/tags/list?n=2&last=b"));
        assert_eq!(next_link(r#"<https://x/prev>; rel="prev", <https://x/next>; rel=next"#), Some("https://x/next"));
        assert_eq!(next_link(r#"</v2/a/tags/list>; rel="last""#), None);
        assert_eq!(next_link("garbage"), None);
    }

    #[test]
    fn a_served_type_says_a_manifest_or_nothing() {
        assert_eq!(
            manifest_type("application/vnd.oci.image.index.v1+json; charset=utf-8").as_deref(),
            Some(media::OCI_INDEX)
        );
        assert_eq!(manifest_type("application/json"), None);
        assert_eq!(manifest_type(""), None);
    }
}
