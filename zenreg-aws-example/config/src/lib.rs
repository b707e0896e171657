//! The `aws` container-registry flavor: Amazon ECR. Flavor and config only.
//!
//! This crate is step 1 of the worked example of a flavor with heavy dependencies (the whole walk
//! is in `zenreg-aws-example/README.md`). It is deliberately light: it depends on `zenreg-core`
//! alone, so a binary can list the flavor, describe its config and register validated `aws`
//! components without compiling the AWS SDK. The implementation that pushes lives in the
//! `zenreg-aws` crate, which depends on this one, and a binary links it behind a cargo feature
//! (`aws` in `zenreg-cli`). The flavor says so itself (`implementation = "zenreg_aws::…"`,
//! `feature = "aws"`), which is how a build without the feature can name what is missing.
//!
//! What goes here, and why:
//! - [`AwsContainerRegistryConfig`], a `#[flavor_config(container_registry)]` struct: the base
//!   fields (`uri`, `authentication_secret`, `default_repository`) are added by the macro; `uri` is
//!   declared here only to attach a validator that knows the ECR host shape, so a wrong URI is
//!   caught at registration, not at the first push. Doc comments become the schema shown by
//!   `zenreg flavor describe aws`.
//! - An option with a default (`create_repository_if_missing`): `#[serde(default)]` makes it
//!   optional, and `skip_serializing_if` keeps it out of stored configs while it is `false`.
//! - [`AwsContainerRegistryFlavor`], a `#[derive(Flavor)]` unit struct with the metadata.
//! - Accessors the implementation needs ([`region`](AwsContainerRegistryConfig::region),
//!   [`account_id`](AwsContainerRegistryConfig::account_id)), so parsing the host lives next to
//!   validating it.
//!
//! ```
//! use zenreg_core::FlavorConfig;
//! use zenreg_aws_config::AwsContainerRegistryConfig;
//!
//! let object = serde_json::json!({ "uri": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/" });
//! let config = AwsContainerRegistryConfig::from_json(object.as_object().unwrap()).unwrap();
//! assert_eq!(config.uri, "123456789012.dkr.ecr.eu-west-1.amazonaws.com");
//! assert_eq!(config.region(), "eu-west-1");
//! assert_eq!(config.account_id(), "123456789012");
//! assert!(!config.create_repository_if_missing);
//!
//! let object = serde_json::json!({ "uri": config.uri, "create_repository_if_missing": "yes" });
//! let errors = AwsContainerRegistryConfig::from_json(object.as_object().unwrap()).unwrap_err();
//! assert!(errors.to_string().contains("create_repository_if_missing"));
//! ```

use zenreg_core::__private::validator::ValidationError;
use zenreg_core::{Flavor, flavor_config};

/// Configuration of an Amazon ECR container registry.
#[flavor_config(container_registry)]
pub struct AwsContainerRegistryConfig {
    /// The ECR registry host: `<12-digit account id>.dkr.ecr.<region>.amazonaws.com`
    /// (also `dkr.ecr-fips` and `.amazonaws.com.cn`), without a repository path.
    #[validate(custom(function = "validate_ecr_uri"))]
    pub uri: String,
    /// Create the image's ECR repository when it does not exist, instead of failing the push
    /// (default `false`). Needs `ecr:CreateRepository`; a repository created at the same moment by
    /// someone else is fine.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub create_repository_if_missing: bool,
}

impl AwsContainerRegistryConfig {
    /// The parsed registry host. Always succeeds on a validated config.
    pub fn host(&self) -> EcrHost<'_> {
        EcrHost::parse(&self.uri).unwrap_or(EcrHost { account_id: "", region: "", fips: false, china: false })
    }

    /// The AWS region of the registry, taken from its URI.
    pub fn region(&self) -> &str {
        self.host().region
    }

    /// The AWS account that owns the registry.
    pub fn account_id(&self) -> &str {
        self.host().account_id
    }
}

/// The parts of an ECR registry host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EcrHost<'a> {
    /// The 12-digit account id.
    pub account_id: &'a str,
    /// The region, e.g. `eu-west-1`.
    pub region: &'a str,
    /// Whether it is a FIPS endpoint (`dkr.ecr-fips`).
    pub fips: bool,
    /// Whether it is in the China partition (`.amazonaws.com.cn`).
    pub china: bool,
}

/// An example shown in every URI error.
const EXAMPLE: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

impl<'a> EcrHost<'a> {
    /// Parses `<account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn]`.
    pub fn parse(uri: &'a str) -> Result<Self, String> {
        if uri.contains('/') {
            return Err(format!(
                "`{uri}` contains `/`: give only the registry host (e.g. `{EXAMPLE}`); \
                 repositories are part of image names"
            ));
        }
        let (rest, china) = match uri.strip_suffix(".amazonaws.com.cn") {
            Some(rest) => (rest, true),
            None => match uri.strip_suffix(".amazonaws.com") {
                Some(rest) => (rest, false),
                None => return Err(not_ecr(uri, "it must end in `.amazonaws.com` or `.amazonaws.com.cn`")),
            },
        };
        let mut parts = rest.splitn(4, '.');
        let (Some(account_id), Some("dkr"), Some(service), Some(region)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(not_ecr(uri, "expected `<account-id>.dkr.ecr.<region>.amazonaws.com`"));
        };
        if account_id.len() != 12 || !account_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(not_ecr(uri, "the account id must be 12 digits"));
        }
        let fips = match service {
            "ecr" => false,
            "ecr-fips" => true,
            _ => return Err(not_ecr(uri, "expected `dkr.ecr` or `dkr.ecr-fips` after the account id")),
        };
        if !is_region(region) {
            return Err(not_ecr(uri, &format!("`{region}` is not an AWS region name")));
        }
        if china != region.starts_with("cn-") {
            return Err(not_ecr(uri, "China regions (`cn-…`) use `.amazonaws.com.cn`, all others `.amazonaws.com`"));
        }
        Ok(EcrHost { account_id, region, fips, china })
    }
}

/// `us-east-1`, `eu-central-2`, `us-gov-west-1`, `cn-north-1`, `ap-southeast-5`, …
fn is_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    parts.len() >= 3
        && parts[..parts.len() - 1].iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].parse::<u8>().is_ok()
}

fn not_ecr(uri: &str, why: &str) -> String {
    format!("`{uri}` is not an ECR registry host: {why} (e.g. `{EXAMPLE}`)")
}

fn validate_ecr_uri(uri: &str) -> Result<(), ValidationError> {
    EcrHost::parse(uri).map(|_| ()).map_err(|message| ValidationError::new("ecr_uri").with_message(message.into()))
}

/// Amazon Elastic Container Registry.
#[derive(Flavor)]
#[flavor(
    name = "aws",
    display_name = "AWS",
    config = AwsContainerRegistryConfig,
    implementation = "zenreg_aws::AwsContainerRegistry",
    feature = "aws",
    connector_type = "aws",
    docs_url = "https://docs.aws.amazon.com/AmazonECR/latest/userguide/what-is-ecr.html",
    sdk_docs_url = "https://docs.rs/aws-sdk-ecr",
    post_registration_message = "ECR repositories are not created on push: create each repository an image goes to \
        first (`aws ecr create-repository --repository-name NAME`), or set `--create_repository_if_missing=true`."
)]
pub struct AwsContainerRegistryFlavor;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ecr_hosts() {
        let host = EcrHost::parse("123456789012.dkr.ecr.eu-west-1.amazonaws.com").unwrap();
        assert_eq!((host.account_id, host.region, host.fips, host.china), ("123456789012", "eu-west-1", false, false));
        let host = EcrHost::parse("123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com").unwrap();
        assert!(host.fips);
        assert_eq!(host.region, "us-gov-west-1");
        let host = EcrHost::parse("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn").unwrap();
        assert!(host.china);
    }

    #[test]
    fn create_repository_if_missing_is_optional_and_stored_only_when_set() {
        use zenreg_core::FlavorConfig;
        let uri = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";
        let plain =
            AwsContainerRegistryConfig::from_json(serde_json::json!({ "uri": uri }).as_object().unwrap()).unwrap();
        assert!(!plain.create_repository_if_missing);
        assert_eq!(
            serde_json::to_value(&plain).unwrap(),
            serde_json::json!({ "uri": uri, "authentication_secret": null, "default_repository": null })
        );
        let object = serde_json::json!({ "uri": uri, "create_repository_if_missing": true });
        let creating = AwsContainerRegistryConfig::from_json(object.as_object().unwrap()).unwrap();
        assert!(creating.create_repository_if_missing);
        assert_eq!(serde_json::to_value(&creating).unwrap()["create_repository_if_missing"], true);
    }

    #[test]
    fn rejects_what_is_not_ecr() {
        for uri in [
            "not-a-valid-uri",
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/repo",
            "12345.dkr.ecr.eu-west-1.amazonaws.com",
            "123456789012.dkr.ecr.eu-west.amazonaws.com",
            "123456789012.dkr.ecs.eu-west-1.amazonaws.com",
            "123456789012.dkr.ecr.cn-north-1.amazonaws.com",
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com.cn",
            "ghcr.io",
        ] {
            let error = EcrHost::parse(uri).unwrap_err();
            assert!(error.contains(EXAMPLE), "{uri}: {error}");
        }
    }
}
