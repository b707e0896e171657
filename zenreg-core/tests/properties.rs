//! Property tests of image-name matching: `is_valid_image_name_for_registry` against a simple
//! reference model that splits names into a registry host and path components, for generated
//! hosts, paths, tags and Docker Hub spellings.

use proptest::prelude::*;
use zenreg_core::is_valid_image_name_for_registry;

/// A name split as Docker reads it: the host (Docker Hub when the first component is not a
/// host) and the repository's path components.
fn split(name: &str) -> (String, Vec<String>) {
    let mut parts: Vec<&str> = name.split('/').collect();
    let first = parts.first().copied().unwrap_or_default();
    let has_host = parts.len() > 1 && (first.contains('.') || first.contains(':') || first == "localhost");
    let host = if has_host { parts.remove(0).to_string() } else { "docker.io".to_string() };
    let host = if host == "index.docker.io" { "docker.io".to_string() } else { host };
    (host, parts.into_iter().filter(|p| !p.is_empty()).map(String::from).collect())
}

/// The model: same host, and the registry's path is a prefix of the image repository's path.
fn model(image: &str, uri: &str) -> bool {
    let repository = image.rsplit_once(':').filter(|(_, tag)| !tag.contains('/')).map_or(image, |(r, _)| r);
    let (image_host, image_path) = split(repository);
    // A URI that is only a host (`localhost:5000`, `docker.io`) has no path.
    let (uri_host, uri_path) = match uri {
        "docker.io" | "index.docker.io" => ("docker.io".to_string(), Vec::new()),
        _ if !uri.contains('/') && (uri.contains('.') || uri.contains(':') || uri == "localhost") => {
            (uri.to_string(), Vec::new())
        }
        _ => split(uri),
    };
    image_host == uri_host && image_path.len() >= uri_path.len().max(1) && image_path.starts_with(&uri_path)
}

fn host() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "localhost",
        "localhost:5000",
        "localhost:50001",
        "127.0.0.1:5000",
        "ghcr.io",
        "docker.io",
        "index.docker.io",
        "",
    ])
    .prop_map(String::from)
}

fn path(min: usize, max: usize) -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec("[ab]{1,2}", min..=max)
}

fn join(host: &str, path: &[String]) -> String {
    let mut parts: Vec<&str> = Vec::new();
    if !host.is_empty() {
        parts.push(host);
    }
    parts.extend(path.iter().map(String::as_str));
    parts.join("/")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, max_global_rejects: 4000, ..ProptestConfig::default() })]

    #[test]
    fn matching_follows_the_model(
        (image_host, image_path, tag) in (host(), path(1, 3), prop::option::of("[0-9]{1,2}")),
        (uri_host, uri_path) in (host(), path(0, 2)),
    ) {
        let mut image = join(&image_host, &image_path);
        if let Some(tag) = &tag {
            image = format!("{image}:{tag}");
        }
        let uri = join(&uri_host, &uri_path);
        prop_assume!(!uri.is_empty());
        prop_assert_eq!(is_valid_image_name_for_registry(&image, &uri), model(&image, &uri), "image {} uri {}", image, uri);
    }
}
