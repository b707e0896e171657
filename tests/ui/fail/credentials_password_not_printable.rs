// Issue 21: a password is a `SecretString`, which has no `Display`: printing it does not compile
// (read it with `ExposeSecret::expose_secret` where it is sent).
use zenreg_core::Credentials;

fn main() {
    let credentials = Credentials::new("robot", "hunter2");
    println!("{}", credentials.password);
}
