//! Prints the checksum of each argument (or of "fedbuild" when none is given).

use std::env;

fn main() {
    let args: Vec<String> = env::args().skip(1).collect();
    let words = if args.is_empty() { vec!["fedbuild".to_string()] } else { args };
    for word in &words {
        println!("{:08x}  {}  {}", fedcrate::checksum(word), fedcrate::slug(word), word);
    }
}
