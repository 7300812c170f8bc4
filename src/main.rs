fn main() {
    println!("rulestream");
}
