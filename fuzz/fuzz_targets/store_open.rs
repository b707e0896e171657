//! Store opening on arbitrary file bytes: a file that is not a healthy zenreg store is refused
//! and left byte-for-byte as it was; one that opens answers listings with rows or an error.
//! Never a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::LazyLock;
use zenreg_aws_config as _;
use zenreg_core::ComponentType;
use zenreg_store::Client;

static DIR: LazyLock<PathBuf> = LazyLock::new(|| {
    let dir = std::env::temp_dir().join(format!("zenreg-fuzz-store-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
});

fuzz_target!(|data: &[u8]| {
    let path = DIR.join("store.db");
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut file = path.clone().into_os_string();
        file.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(file));
    }
    std::fs::write(&path, data).expect("write the store file");
    match Client::open(&path) {
        Err(_) => {
            let after = std::fs::read(&path).expect("read the store file");
            assert!(after == data, "a refused store file was changed");
        }
        Ok(client) => {
            for component_type in ComponentType::ALL {
                if let Ok(components) = client.components(*component_type, None) {
                    for component in components {
                        let _ = client.component(*component_type, &component.name);
                        let _ = client.component(*component_type, &component.id);
                    }
                }
            }
            let _ = client.secrets();
        }
    }
});
