//! The clock and randomness an evaluation reads, and the seeded generator behind `$random()`,
//! `$uuid()` and `$shuffle()`.

use std::cell::Cell;

/// What an evaluation reads from outside the expression: the time and randomness. The default
/// reads the system clock and draws fresh randomness; a fixed instant and a seed make
/// `$now()`, `$millis()`, `$random()`, `$uuid()` and `$shuffle()` repeatable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ambient {
    /// The instant `$now()` and `$millis()` report, epoch milliseconds (default: when the
    /// evaluation starts).
    pub now_millis: Option<i64>,
    /// Seed of the evaluation's random draws (default: none, fresh randomness).
    pub seed: Option<u64>,
}

impl Ambient {
    /// The same instant with the seed of the `n`th of several evaluations that share this one.
    pub fn derive(self, n: u64) -> Ambient {
        Ambient {
            now_millis: self.now_millis,
            seed: self.seed.map(|s| mix64(s ^ mix64(n))),
        }
    }
}

/// SplitMix64: 64 well-mixed bits from any 64-bit value (a step of the SplitMix64 generator).
pub fn mix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// 64 bits from a text (FNV-1a), to mix names into a seed.
pub fn text_seed(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A number in `[0, 1)` from 64 random bits.
pub fn unit_interval(bits: u64) -> f64 {
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// The random draws of one evaluation: a SplitMix64 sequence from the seed, or fresh randomness.
pub struct Draws {
    seed: Option<u64>,
    drawn: Cell<u64>,
}

impl Draws {
    /// Draws from `seed`, or fresh ones without.
    pub fn new(seed: Option<u64>) -> Draws {
        Draws {
            seed,
            drawn: Cell::new(0),
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&self) -> u64 {
        let Some(seed) = self.seed else {
            return rand::random();
        };
        let n = self.drawn.get();
        self.drawn.set(n + 1);
        mix64(seed.wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15)))
    }

    /// A number in `[0, 1)`.
    pub(crate) fn unit(&self) -> f64 {
        unit_interval(self.next_u64())
    }

    /// A version 4 UUID.
    pub fn uuid(&self) -> uuid::Uuid {
        let bits = (u128::from(self.next_u64()) << 64) | u128::from(self.next_u64());
        uuid::Builder::from_random_bytes(bits.to_be_bytes()).into_uuid()
    }

    /// Shuffles `items` in place (Fisher-Yates).
    pub(crate) fn shuffle<T>(&self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.unit() * (i + 1) as f64) as usize;
            items.swap(i, j.min(i));
        }
    }
}
