//! Files organized per day by source, as an inline SVG of stacked bars (no chart library, no
//! script: colours come from the stylesheet through classes).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use catalog::DayCount;
use chrono::NaiveDate;

use crate::html::esc;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 36.0;
const BOTTOM: f64 = 22.0;
/// Distinct colours in the stylesheet (`.s0` … `.s7`); more sources reuse them.
const COLOURS: usize = 8;

/// The chart for `days` days ending with `last`, from `counts` (any order).
pub(crate) fn per_day(counts: &[DayCount], last: NaiveDate, days: u32) -> String {
    let first = last - chrono::Days::new(u64::from(days.saturating_sub(1)));
    let mut sources: Vec<&str> = counts.iter().map(|c| c.source.as_str()).collect();
    sources.sort_unstable();
    sources.dedup();
    let mut by_day: BTreeMap<NaiveDate, Vec<(usize, u64)>> = BTreeMap::new();
    for c in counts.iter().filter(|c| c.day >= first && c.day <= last) {
        let colour = sources.iter().position(|s| *s == c.source).unwrap_or(0);
        by_day.entry(c.day).or_default().push((colour, c.count));
    }
    let max = by_day
        .values()
        .map(|v| v.iter().map(|(_, n)| n).sum::<u64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let plot_h = HEIGHT - BOTTOM - 8.0;
    let slot = (WIDTH - LEFT) / f64::from(days.max(1));
    let mut svg = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" \
         aria-label=\"Files organized per day by source, last {days} days\">"
    );
    let _ = write!(
        svg,
        "<text class=\"axis\" x=\"{x}\" y=\"14\" text-anchor=\"end\">{max}</text>\
         <text class=\"axis\" x=\"{x}\" y=\"{y0}\" text-anchor=\"end\">0</text>\
         <line class=\"grid\" x1=\"{LEFT}\" y1=\"{y0}\" x2=\"{WIDTH}\" y2=\"{y0}\"/>",
        x = LEFT - 6.0,
        y0 = HEIGHT - BOTTOM
    );
    for (i, day) in first.iter_days().take(days as usize).enumerate() {
        let x = LEFT + slot * i as f64 + slot * 0.15;
        let mut y = HEIGHT - BOTTOM;
        for (colour, n) in by_day.get(&day).into_iter().flatten() {
            let h = plot_h * (*n as f64) / (max as f64);
            y -= h;
            let _ = write!(
                svg,
                "<rect class=\"s{}\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{h:.1}\">\
                 <title>{day}: {n} {}</title></rect>",
                colour % COLOURS,
                slot * 0.7,
                esc(sources[*colour]),
            );
        }
        // Every seventh day, counted back from the last, so the newest day is always labelled.
        // The newest ends at the right edge, so it is not cut off.
        if (days as usize - 1 - i).is_multiple_of(7) {
            let (at, anchor) = if i + 1 == days as usize {
                (WIDTH, "end")
            } else {
                (x + slot * 0.35, "middle")
            };
            let _ = write!(
                svg,
                "<text class=\"axis\" x=\"{at:.1}\" y=\"{HEIGHT}\" text-anchor=\"{anchor}\">{}</text>",
                day.format("%m-%d")
            );
        }
    }
    svg.push_str("</svg><ul class=\"legend\">");
    for (i, s) in sources.iter().enumerate() {
        let _ = write!(
            svg,
            "<li><span class=\"swatch s{}\"></span>{}</li>",
            i % COLOURS,
            esc(s)
        );
    }
    svg.push_str("</ul>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_stack_per_day_and_days_outside_the_window_are_left_out() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let counts = vec![
            DayCount {
                day: d("2024-03-10"),
                source: "flux".into(),
                count: 3,
            },
            DayCount {
                day: d("2024-03-10"),
                source: "<camera>".into(),
                count: 1,
            },
            DayCount {
                day: d("2024-01-01"),
                source: "flux".into(),
                count: 99,
            },
        ];
        let svg = per_day(&counts, d("2024-03-10"), 30);
        assert_eq!(svg.matches("<rect").count(), 2);
        assert!(
            svg.contains(">4</text>"),
            "the scale tops at the busiest day"
        );
        assert!(svg.contains("&lt;camera&gt;") && !svg.contains("<camera>"));
        assert!(!svg.contains("99"));
    }
}
