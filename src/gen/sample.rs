//! Small deterministic sampling helpers for the generator: weighted tables,
//! a keyed permutation for unique numbers without remembering them, and a
//! hash for per-key offsets. No clock, no hash-map iteration order.

use rand::Rng;

/// A table of values with integer weights, sampled by binary search.
pub struct Weighted<T> {
    items: Vec<T>,
    cumulative: Vec<u64>,
}

impl<T: Clone> Weighted<T> {
    /// Builds a table; entries with weight 0 are never drawn. An empty or
    /// all-zero table is a programming error caught by the tests (it draws the
    /// first item, or panics on an empty slice in `sample`).
    pub fn new(entries: &[(T, u32)]) -> Weighted<T> {
        let mut total = 0u64;
        let mut items = Vec::with_capacity(entries.len());
        let mut cumulative = Vec::with_capacity(entries.len());
        for (item, weight) in entries {
            if *weight == 0 {
                continue;
            }
            total += u64::from(*weight);
            items.push(item.clone());
            cumulative.push(total);
        }
        Weighted { items, cumulative }
    }

    pub fn sample<R: Rng>(&self, rng: &mut R) -> &T {
        let total = self.cumulative.last().copied().unwrap_or(1);
        let x = rng.gen_range(0..total);
        let i = self.cumulative.partition_point(|&c| c <= x);
        &self.items[i.min(self.items.len() - 1)]
    }
}

/// Uniform choice from a non-empty static slice.
pub fn pick<'a, T, R: Rng>(rng: &mut R, items: &'a [T]) -> &'a T {
    &items[rng.gen_range(0..items.len())]
}

/// SplitMix64 finaliser: a fast, well-mixed 64-bit hash of one word.
pub fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A keyed permutation of `0..100_000_000`: a balanced Feistel network on two
/// decimal halves of four digits. Distinct inputs give distinct outputs, so
/// card numbers and account serials are unique without a set of used ones.
pub fn permute_8_digits(x: u64, key: u64) -> u64 {
    const HALF: u64 = 10_000;
    let (mut left, mut right) = ((x / HALF) % HALF, x % HALF);
    for round in 0..4u64 {
        let f = mix64(key ^ (round << 56) ^ right) % HALF;
        (left, right) = (right, (left + f) % HALF);
    }
    left * HALF + right
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn permutation_is_a_bijection_on_a_slice() {
        let mut seen = std::collections::HashSet::new();
        for x in 0..200_000u64 {
            let y = permute_8_digits(x, 42);
            assert!(y < 100_000_000);
            assert!(seen.insert(y), "collision at {x}");
        }
    }

    #[test]
    fn weighted_respects_zero_weights() {
        let table = Weighted::new(&[("a", 0), ("b", 3), ("c", 0)]);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        for _ in 0..100 {
            assert_eq!(*table.sample(&mut rng), "b");
        }
    }
}
