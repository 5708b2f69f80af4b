//! Deterministic mutations for the smoke pass: the same seeds give the same inputs on
//! every machine, so a smoke failure reproduces with `cargo test`. A much smaller cousin
//! of libFuzzer's mutators (bit flips, byte edits, splices, and tokens that tend to
//! matter to these parsers); it has no coverage feedback and does not replace the real
//! `cargo fuzz` runs recorded in `fuzz/README.md`.

/// Tokens worth splicing into text inputs: numbers at type limits, JSON punctuation,
/// the RLE alphabet's edges, YAML keys.
const TOKENS: &[&[u8]] = &[
    b"0",
    b"-1",
    b"1e309",
    b"NaN",
    b"4294967295",
    b"4294967296",
    b"18446744073709551615",
    b"65535",
    b"[",
    b"]",
    b"{",
    b"}",
    b"\"",
    b",",
    b":",
    b"null",
    b"\"size\"",
    b"\"counts\"",
    b"\"segmentation\"",
    b"names:",
    b"\n",
    b" ",
    b"o",
    b"0",
    b"\xff",
    b"\x00",
];

/// xorshift64*: small, fast and good enough to pick mutations.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// `input` with one to four random edits, drawing splices from `other`.
pub fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..=rng.below(4) {
        edit(rng, &mut out, other);
    }
    out
}

fn edit(rng: &mut Rng, out: &mut Vec<u8>, other: &[u8]) {
    let at = |rng: &mut Rng, len: usize| rng.below(len + 1);
    match rng.below(8) {
        0 if !out.is_empty() => {
            let i = rng.below(out.len());
            out[i] ^= 1 << rng.below(8);
        }
        1 if !out.is_empty() => {
            let i = rng.below(out.len());
            out[i] = rng.next_u64() as u8;
        }
        2 => {
            let i = at(rng, out.len());
            out.insert(i, rng.next_u64() as u8);
        }
        3 if !out.is_empty() => {
            let i = rng.below(out.len());
            let n = 1 + rng.below((out.len() - i).min(16));
            out.drain(i..i + n);
        }
        4 if !out.is_empty() => {
            // Duplicate a slice in place (grows counts, repeats lines and entries).
            let i = rng.below(out.len());
            let n = 1 + rng.below((out.len() - i).min(64));
            let piece = out[i..i + n].to_vec();
            let j = at(rng, out.len());
            out.splice(j..j, piece);
        }
        5 if !other.is_empty() => {
            let i = rng.below(other.len());
            let n = 1 + rng.below((other.len() - i).min(64));
            let j = at(rng, out.len());
            out.splice(j..j, other[i..i + n].iter().copied());
        }
        6 if !out.is_empty() => {
            // Overwrite a little-endian word with a boundary value (sizes in headers).
            let i = rng.below(out.len());
            let v: u32 = [0, 1, 0xFF, 0xFFFF, 0x7FFF_FFFF, 0xFFFF_FFFF][rng.below(6)];
            for (k, b) in v.to_le_bytes().iter().enumerate() {
                if let Some(slot) = out.get_mut(i + k) {
                    *slot = *b;
                }
            }
        }
        _ => {
            let t = TOKENS[rng.below(TOKENS.len())];
            let j = at(rng, out.len());
            out.splice(j..j, t.iter().copied());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutations_are_deterministic_and_change_the_input() {
        let seed = b"{\"size\": [2, 2], \"counts\": [1, 3]}";
        let run = |s| {
            let mut rng = Rng::new(s);
            (0..100)
                .map(|_| mutate(&mut rng, seed, b"other"))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        assert!(run(7).iter().filter(|m| m.as_slice() != seed).count() > 90);
    }
}
