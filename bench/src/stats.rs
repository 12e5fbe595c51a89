//! Medians, spreads and percentiles of repeated measurements.

use serde::Serialize;

/// Repeated measurements of one quantity (seconds, MiB/s, …).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Samples(pub Vec<f64>);

impl Samples {
    /// Adds one measurement.
    pub fn push(&mut self, value: f64) {
        self.0.push(value);
    }

    /// How many measurements.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn sorted(&self) -> Vec<f64> {
        let mut v = self.0.clone();
        v.sort_by(f64::total_cmp);
        v
    }

    /// The median (the mean of the two middle values for an even count); 0 when empty.
    pub fn median(&self) -> f64 {
        let v = self.sorted();
        match v.len() {
            0 => 0.0,
            n if n % 2 == 1 => v[n / 2],
            n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        }
    }

    /// The smallest value; 0 when empty.
    pub fn min(&self) -> f64 {
        self.sorted().first().copied().unwrap_or(0.0)
    }

    /// The largest value; 0 when empty.
    pub fn max(&self) -> f64 {
        self.sorted().last().copied().unwrap_or(0.0)
    }

    /// The `p`-th percentile (0–100), nearest rank; 0 when empty.
    pub fn percentile(&self, p: f64) -> f64 {
        let v = self.sorted();
        if v.is_empty() {
            return 0.0;
        }
        let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
        v[rank.clamp(1, v.len()) - 1]
    }

    /// The spread as a percentage of the median: (max − min) / median.
    pub fn spread_pct(&self) -> f64 {
        let m = self.median();
        if m == 0.0 {
            0.0
        } else {
            (self.max() - self.min()) / m * 100.0
        }
    }

    /// `median (min–max)`, with `digits` decimals.
    pub fn show(&self, digits: usize) -> String {
        if self.len() < 2 {
            return format!("{:.digits$}", self.median());
        }
        format!(
            "{:.digits$} ({:.digits$}–{:.digits$})",
            self.median(),
            self.min(),
            self.max()
        )
    }
}

/// MiB/s for `bytes` moved in `secs`.
pub fn mib_s(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / f64::from(1u32 << 20) / secs.max(1e-9)
}

#[cfg(test)]
mod tests {
    use super::Samples;

    #[test]
    fn median_percentile_and_spread() {
        let s = Samples(vec![5.0, 1.0, 3.0, 2.0, 4.0]);
        assert_eq!(s.median(), 3.0);
        assert_eq!(s.percentile(50.0), 3.0);
        assert_eq!(s.percentile(99.0), 5.0);
        assert_eq!(s.percentile(0.0), 1.0);
        assert!((s.spread_pct() - 400.0 / 3.0).abs() < 1e-9);
        assert_eq!(Samples(vec![1.0, 2.0]).median(), 1.5);
        assert_eq!(Samples::default().median(), 0.0);
        assert_eq!(s.show(1), "3.0 (1.0–5.0)");
    }
}
