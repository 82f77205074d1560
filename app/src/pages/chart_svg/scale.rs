//! The drawing area and how data lands on it: the SVG canvas and plot rectangles, linear scales,
//! min / mid / max ticks, and the time axis (years as numbers, other times by rank).
//!
//! Its own module because the line, bar and scatter layouts share it, and its edge cases (equal
//! bounds, non-finite values, a single year) are easiest to pin down on their own.

use std::collections::BTreeSet;

use super::format::{fmt_time, fmt_value, time_text};
use crate::rows::Time;

/// The SVG coordinate system every chart is drawn in (scaled to 100% width by CSS).
pub const VIEW_BOX: &str = "0 0 640 360";
pub const WIDTH: f64 = 640.0;
pub const HEIGHT: f64 = 360.0;

/// Where line and scatter charts draw their marks.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rect {
    pub left: f64,
    pub top: f64,
    pub right: f64,
    pub bottom: f64,
}

pub const PLOT: Rect = Rect { left: 64.0, top: 14.0, right: 624.0, bottom: 322.0 };
/// Bar charts: labels right-aligned at `left - 6`, room for value labels after `right`.
pub const BAR_PLOT: Rect = Rect { left: 156.0, top: 10.0, right: 560.0, bottom: 322.0 };

/// A linear map from a data domain to a screen range, safe with equal or non-finite bounds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scale {
    pub d0: f64,
    pub d1: f64,
    pub r0: f64,
    pub r1: f64,
}

impl Scale {
    /// Equal bounds are widened by 10% of the value (or by 1 around zero) so nothing divides by 0.
    pub fn new(min: f64, max: f64, r0: f64, r1: f64) -> Scale {
        let (mut d0, mut d1) =
            if min.is_finite() && max.is_finite() { (min.min(max), min.max(max)) } else { (0.0, 1.0) };
        if d0 == d1 {
            let pad = if d0 == 0.0 { 1.0 } else { d0.abs() * 0.1 };
            d0 -= pad;
            d1 += pad;
        }
        Scale { d0, d1, r0, r1 }
    }

    pub fn map(&self, v: f64) -> f64 {
        let span = self.d1 - self.d0;
        if span == 0.0 || !span.is_finite() || !v.is_finite() {
            return (self.r0 + self.r1) / 2.0;
        }
        self.r0 + (v - self.d0) / span * (self.r1 - self.r0)
    }

    /// Min, mid, max of the domain.
    pub fn ticks(&self) -> [f64; 3] {
        [self.d0, self.d0 + (self.d1 - self.d0) / 2.0, self.d1]
    }
}

/// Min and max of the finite values, if any.
pub fn extent(values: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
    values.into_iter().filter(|v| v.is_finite()).fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

#[derive(Clone, Debug, PartialEq)]
pub struct Tick {
    /// Screen coordinate along the axis.
    pub pos: f64,
    pub label: String,
}

/// Min / mid / max value ticks.
pub fn value_ticks(scale: &Scale) -> Vec<Tick> {
    scale.ticks().iter().map(|&v| Tick { pos: scale.map(v), label: fmt_value(v) }).collect()
}

/// How times become x positions: numbers (years) as they are, otherwise the rank of the time's
/// text among the chart's sorted distinct times.
#[derive(Clone, Debug, PartialEq)]
pub enum TimeAxis {
    Numeric,
    Ordinal(Vec<String>),
}

impl TimeAxis {
    /// The axis for rows with these time keys: numeric when every time is a number.
    pub fn new<'a>(times: impl IntoIterator<Item = &'a Time<'a>>) -> TimeAxis {
        let times: Vec<&Time<'_>> = times.into_iter().collect();
        if times.iter().all(|t| t.as_number().is_some()) {
            return TimeAxis::Numeric;
        }
        let texts: BTreeSet<String> = times.into_iter().map(time_text).collect();
        TimeAxis::Ordinal(texts.into_iter().collect())
    }

    pub fn pos(&self, t: &Time<'_>) -> Option<f64> {
        match self {
            TimeAxis::Numeric => t.as_number(),
            TimeAxis::Ordinal(texts) => texts.binary_search(&time_text(t)).ok().map(|i| i as f64),
        }
    }

    pub fn label(&self, pos: f64) -> String {
        match self {
            TimeAxis::Numeric => fmt_time(pos),
            TimeAxis::Ordinal(texts) => {
                let i = pos.round();
                if (pos - i).abs() > 1e-9 || i < 0.0 {
                    return String::new();
                }
                texts.get(i as usize).cloned().unwrap_or_default()
            }
        }
    }

    /// A scale over `min..=max`; a single time is widened by one step (not by 10%, which would
    /// turn the year 2000 into 1800..2200).
    pub fn scale(&self, min: f64, max: f64, r0: f64, r1: f64) -> Scale {
        if min == max && min.is_finite() {
            Scale::new(min - 1.0, max + 1.0, r0, r1)
        } else {
            Scale::new(min, max, r0, r1)
        }
    }

    /// Min / mid / max time ticks, the mid rounded to a whole step when the ends are whole.
    pub fn ticks(&self, scale: &Scale) -> Vec<Tick> {
        let [lo, mid, hi] = scale.ticks();
        let mid = if lo.fract() == 0.0 && hi.fract() == 0.0 { mid.round() } else { mid };
        let mut out: Vec<Tick> = Vec::new();
        for v in [lo, mid, hi] {
            let label = self.label(v);
            if label.is_empty() || out.iter().any(|t| t.label == label) {
                continue;
            }
            out.push(Tick { pos: scale.map(v), label });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::chart_svg::testing::rows;
    use serde_json::json;

    #[test]
    fn scale_with_equal_values_does_not_divide_by_zero() {
        let s = Scale::new(5.0, 5.0, 0.0, 100.0);
        assert!(s.d0 < 5.0 && s.d1 > 5.0);
        assert_eq!(s.map(5.0), 50.0);
        assert_eq!(value_ticks(&s).iter().map(|t| t.label.as_str()).collect::<Vec<_>>(), ["4.5", "5", "5.5"]);
        let z = Scale::new(0.0, 0.0, 10.0, 20.0);
        assert_eq!(z.ticks(), [-1.0, 0.0, 1.0]);
        assert_eq!(z.map(0.0), 15.0);
        let bad = Scale::new(f64::NAN, 3.0, 0.0, 10.0);
        assert!(bad.map(0.5).is_finite());
        // Inverted range (SVG y grows downwards).
        let y = Scale::new(0.0, 10.0, 300.0, 0.0);
        assert_eq!(y.map(10.0), 0.0);
        assert_eq!(y.map(0.0), 300.0);
    }

    #[test]
    fn single_time_is_widened_by_one_step() {
        let axis = TimeAxis::Numeric;
        let s = axis.scale(2000.0, 2000.0, 0.0, 100.0);
        let labels: Vec<String> = axis.ticks(&s).into_iter().map(|t| t.label).collect();
        assert_eq!(labels, ["1999", "2000", "2001"]);
        let s = axis.scale(2000.0, 2005.0, 0.0, 100.0);
        assert_eq!(axis.ticks(&s).into_iter().map(|t| t.label).collect::<Vec<_>>(), ["2000", "2003", "2005"]);
    }

    #[test]
    fn ordinal_times_rank_strings() {
        let r = rows(json!([
            {"entity": "A", "time": "2020-02", "value": 1},
            {"entity": "A", "time": "2020-01", "value": 2},
        ]));
        let axis = TimeAxis::new(r.iter().map(|r| &r.key.time));
        assert_eq!(axis, TimeAxis::Ordinal(vec!["2020-01".into(), "2020-02".into()]));
        assert_eq!(axis.pos(&Time::Text("2020-02".into())), Some(1.0));
        let s = axis.scale(0.0, 1.0, 0.0, 10.0);
        assert_eq!(axis.ticks(&s).into_iter().map(|t| t.label).collect::<Vec<_>>(), ["2020-01", "2020-02"]);
    }

    #[test]
    fn years_however_written_are_one_numeric_position() {
        let r = rows(json!([
            {"entity": "A", "time": 2000, "value": 1},
            {"entity": "A", "time": "2001", "value": 2},
            {"entity": "A", "time": 2002.0, "value": 3},
        ]));
        let axis = TimeAxis::new(r.iter().map(|r| &r.key.time));
        assert_eq!(axis, TimeAxis::Numeric);
        assert_eq!(
            r.iter().map(|r| axis.pos(&r.key.time)).collect::<Vec<_>>(),
            [Some(2000.0), Some(2001.0), Some(2002.0)]
        );
    }
}
