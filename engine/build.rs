include!("../build-support/llama_libraries.rs");

fn main() {
    link_llama_libraries();
}
