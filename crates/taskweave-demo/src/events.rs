//! Synthetic sensor readings: a seeded generator of raw lines (a few of them malformed) and
//! the validation that turns a line into a [`Reading`] or says why it cannot.

use std::fmt;

/// One event as it arrives: an id and a raw CSV line `sensor,timestamp_ms,value,unit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEvent {
    /// The event's position in the stream, from 0.
    pub id: u64,
    /// The payload, unparsed.
    pub line: String,
}

/// A validated reading.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    /// The event id it came from.
    pub id: u64,
    /// The sensor that sent it.
    pub sensor: u32,
    /// When it was taken, in milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// The measured temperature, in degrees Celsius.
    pub celsius: f64,
}

/// Why a raw event was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Malformed {
    /// Not exactly four comma-separated fields.
    FieldCount,
    /// A field that should be a number is not one.
    NotANumber,
    /// A temperature no sensor can measure.
    OutOfRange,
    /// A unit other than `C` or `F`.
    UnknownUnit,
}

impl Malformed {
    /// Every reason, in the order the summary lists them.
    pub const ALL: [Malformed; 4] = [
        Self::FieldCount,
        Self::NotANumber,
        Self::OutOfRange,
        Self::UnknownUnit,
    ];

    /// The reason's position in [`ALL`](Self::ALL), for counters kept in arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::FieldCount => "wrong field count",
            Self::NotANumber => "not a number",
            Self::OutOfRange => "out of range",
            Self::UnknownUnit => "unknown unit",
        })
    }
}

/// The lowest and highest temperature a sensor can report, in °C.
const RANGE_CELSIUS: std::ops::RangeInclusive<f64> = -60.0..=150.0;

/// Parses and validates a raw line.
///
/// # Errors
///
/// The [`Malformed`] reason when the line is not a plausible reading.
pub fn validate(event: &RawEvent) -> Result<Reading, Malformed> {
    let mut fields = event.line.split(',');
    let (Some(sensor), Some(timestamp), Some(value), Some(unit), None) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        return Err(Malformed::FieldCount);
    };
    let sensor = sensor.parse::<u32>().map_err(|_| Malformed::NotANumber)?;
    let timestamp_ms = timestamp
        .parse::<u64>()
        .map_err(|_| Malformed::NotANumber)?;
    let value = value.parse::<f64>().map_err(|_| Malformed::NotANumber)?;
    let celsius = match unit {
        "C" => value,
        "F" => (value - 32.0) * 5.0 / 9.0,
        _ => return Err(Malformed::UnknownUnit),
    };
    if !RANGE_CELSIUS.contains(&celsius) {
        return Err(Malformed::OutOfRange);
    }
    Ok(Reading {
        id: event.id,
        sensor,
        timestamp_ms,
        celsius,
    })
}

/// How many distinct sensors the generator simulates.
pub const SENSORS: u32 = 500;

/// Produces the event stream, deterministically from a seed: about 2% of the lines are
/// malformed, spread over every [`Malformed`] reason.
#[derive(Debug, Clone)]
pub struct Generator {
    rng: SplitMix64,
    next_id: u64,
    start_ms: u64,
}

impl Generator {
    /// A generator whose output depends only on `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            rng: SplitMix64(seed),
            next_id: 0,
            start_ms: 1_767_225_600_000, // 2026-01-01T00:00:00Z
        }
    }

    /// The next event.
    pub fn next_event(&mut self) -> RawEvent {
        let id = self.next_id;
        self.next_id += 1;
        let sensor = (self.rng.next() % u64::from(SENSORS)) as u32;
        let timestamp = self.start_ms + id * 10;
        let celsius = 15.0 + self.rng.unit() * 15.0;
        let line = match self.rng.next() % 1000 {
            0..=4 => format!("{sensor},{timestamp},{celsius:.2}"),
            5..=9 => format!("{sensor},{timestamp},{celsius:.2}x,C"),
            10..=14 => format!("{sensor},{timestamp},{:.2},C", celsius + 1000.0),
            15..=19 => format!("{sensor},{timestamp},{celsius:.2},K"),
            20..=499 => format!("{sensor},{timestamp},{celsius:.2},C"),
            _ => format!("{sensor},{timestamp},{:.2},F", celsius * 9.0 / 5.0 + 32.0),
        };
        RawEvent { id, line }
    }
}

/// A tiny, fast, seedable generator (SplitMix64): good enough for synthetic data and injected
/// failures, and it keeps the demo free of a `rand` dependency.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(pub(crate) u64);

impl SplitMix64 {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// A float uniformly in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// SplitMix64's output function: a stateless hash, so concurrent callers can draw from a
/// shared atomic counter.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generator_is_deterministic_and_mostly_valid() {
        let a: Vec<_> = {
            let mut g = Generator::new(1);
            (0..10_000).map(|_| g.next_event()).collect()
        };
        let mut g = Generator::new(1);
        let b: Vec<_> = (0..10_000).map(|_| g.next_event()).collect();
        assert_eq!(a, b);

        let mut reasons = [0u32; 4];
        for event in &a {
            if let Err(reason) = validate(event) {
                reasons[reason.index()] += 1;
            }
        }
        let malformed: u32 = reasons.iter().sum();
        assert!((100..=300).contains(&malformed), "{malformed} malformed");
        assert!(reasons.iter().all(|&n| n > 0), "{reasons:?}");
    }

    #[test]
    fn validation_names_the_reason() {
        let event = |line: &str| RawEvent {
            id: 3,
            line: line.to_owned(),
        };
        let ok = validate(&event("7,1000,68.0,F")).unwrap();
        assert_eq!((ok.id, ok.sensor, ok.timestamp_ms), (3, 7, 1000));
        assert!((ok.celsius - 20.0).abs() < 1e-9);
        assert_eq!(validate(&event("7,1000,20")), Err(Malformed::FieldCount));
        assert_eq!(
            validate(&event("7,1000,20,C,x")),
            Err(Malformed::FieldCount)
        );
        assert_eq!(validate(&event("7,soon,20,C")), Err(Malformed::NotANumber));
        assert_eq!(validate(&event("7,1000,999,C")), Err(Malformed::OutOfRange));
        assert_eq!(validate(&event("7,1000,NaN,C")), Err(Malformed::OutOfRange));
        assert_eq!(validate(&event("7,1000,20,K")), Err(Malformed::UnknownUnit));
    }
}
