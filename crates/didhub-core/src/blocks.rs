//! Aligned number blocks: a block of size 10^k is the numbers that share all but their last k
//! digits (+44 20 7946 0100 … 0199 is a block of 100).

/// Block sizes that can be ordered ("DID Range": 10, 100, 1K, 10K).
pub const ORDERABLE: [u32; 4] = [10, 100, 1_000, 10_000];
/// Block sizes whose free counts are kept (blocks of 10 are counted on the fly).
pub const TRACKED: [u32; 4] = [100, 1_000, 10_000, 100_000];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    #[error("block size {0} is not one of 10, 100, 1000 or 10000")]
    Size(u32),
}

pub fn check_size(size: u32) -> Result<u32, BlockError> {
    if ORDERABLE.contains(&size) {
        Ok(size)
    } else {
        Err(BlockError::Size(size))
    }
}

/// Digits a block of `size` varies: 10 → 1, 1000 → 3.
pub fn digits(size: u32) -> usize {
    size.max(1).ilog10() as usize
}

/// The block of `size` a number is in, as its shared prefix (None if the number is too short).
pub fn prefix(number: &str, size: u32) -> Option<&str> {
    let k = digits(size);
    (number.len() > k + 2).then(|| &number[..number.len() - k])
}

/// First and last number of a block.
pub fn range(prefix: &str, size: u32) -> (String, String) {
    let k = digits(size);
    (
        format!("{prefix}{}", "0".repeat(k)),
        format!("{prefix}{}", "9".repeat(k)),
    )
}

/// The enclosing block of the next size up.
pub fn parent(prefix: &str) -> &str {
    &prefix[..prefix.len().saturating_sub(1)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn blocks() {
        assert_eq!(prefix("+442079460123", 100), Some("+4420794601"));
        assert_eq!(
            range("+4420794601", 100),
            ("+442079460100".into(), "+442079460199".into())
        );
        assert_eq!(parent("+4420794601"), "+442079460");
        assert!(check_size(50).is_err());
        assert_eq!(digits(10_000), 4);
        assert_eq!(prefix("+12", 100), None);
    }

    proptest! {
        #[test]
        fn a_number_is_inside_its_block(n in 10_000_000u64..999_999_999_999, k in 0usize..4) {
            let size = ORDERABLE[k];
            let number = format!("+{n}");
            let p = prefix(&number, size).unwrap();
            let (first, last) = range(p, size);
            prop_assert!(first.as_str() <= number.as_str() && number.as_str() <= last.as_str());
            prop_assert_eq!(first.len(), number.len());
            let span: u64 = last[1..].parse::<u64>().unwrap() - first[1..].parse::<u64>().unwrap() + 1;
            prop_assert_eq!(span, size as u64);
        }
    }
}
