//! The free-form argument parser of `register`/`update`/`secret create` (`--KEY=VALUE`,
//! `--label k=v`, `-f NAME`) and the typing of values by each flavor's schema: any token list
//! gives arguments or an error, never a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use zenreg_aws_config as _;
use zenreg_cli::args::{Accepts, parse, parse_label, typed_attributes};
use zenreg_core::{Catalog, ComponentType};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // Tokens are separated by NUL, as argv would be.
    let tokens: Vec<String> = text.split('\0').map(str::to_string).collect();
    let _ = parse_label(text);
    // `@FILE` values are not read here: a fuzzer naming `/dev/stdin` would block the run. The
    // file rules have their own tests.
    for accepts in [
        Accepts { flavor: true, labels: true, bare_keys: false, files: false },
        Accepts { flavor: false, labels: false, bare_keys: true, files: false },
    ] {
        let Ok(args) = parse(&tokens, accepts) else { continue };
        for key in args.attributes.iter().map(|(k, _)| k).chain(&args.bare_keys) {
            assert!(zenreg_store::is_identifier(key), "attribute key {key:?} is not an identifier");
        }
        for entry in Catalog::global().flavors(ComponentType::ContainerRegistry) {
            let typed = typed_attributes(args.attributes.clone(), &(entry.descriptor.config.schema)());
            assert_eq!(typed.len(), args.attributes.len());
            let _ = (entry.descriptor.config.validate)(&typed);
        }
    }
});
