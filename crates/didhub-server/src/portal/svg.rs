//! Charts drawn on the server as SVG (no script, no request for a resource): a horizontal bar
//! chart and a line over time, whose numbers are also in a table beside them, their text
//! alternative.

/// One bar, in the chart's own units (the template writes them into the `<svg>`).
pub struct Bar {
    pub label: String,
    pub value: String,
    pub y: u32,
    pub text_y: u32,
    pub width: u32,
}

pub struct BarChart {
    pub width: u32,
    pub height: u32,
    /// Where bars start (room for the labels on their left).
    pub left: u32,
    pub bar_height: u32,
    pub bars: Vec<Bar>,
}

const ROW: u32 = 28;
const BAR: u32 = 18;
const LEFT: u32 = 190;
const WIDTH: u32 = 640;
/// Room on the right of the longest bar for its value.
const VALUE_ROOM: u32 = 80;

/// Bars for labelled values, the longest bar the largest value.
pub fn bars(rows: &[(String, i64)]) -> BarChart {
    let max = rows.iter().map(|r| r.1).max().unwrap_or(0).max(1) as f64;
    let span = f64::from(WIDTH - LEFT - VALUE_ROOM);
    let bars = rows
        .iter()
        .enumerate()
        .map(|(i, (label, v))| {
            let y = i as u32 * ROW + 4;
            Bar {
                label: label.clone(),
                value: super::thousands(*v),
                y,
                text_y: y + BAR - 4,
                // At least a sliver, so that a small stock still shows.
                width: ((*v).max(0) as f64 / max * span).round().max(2.0) as u32,
            }
        })
        .collect::<Vec<_>>();
    BarChart {
        width: WIDTH,
        height: (bars.len() as u32 * ROW).max(ROW) + 8,
        left: LEFT,
        bar_height: BAR,
        bars,
    }
}

/// Bars for shares (0 to 1) on a scale of 0 to 100 %; a row without a share has no bar and
/// says so.
pub fn percent_bars(rows: &[(String, Option<f64>)], none: &str) -> BarChart {
    let span = f64::from(WIDTH - LEFT - VALUE_ROOM);
    let bars = rows
        .iter()
        .enumerate()
        .map(|(i, (label, share))| {
            let y = i as u32 * ROW + 4;
            Bar {
                label: label.clone(),
                value: match share {
                    Some(v) => format!("{:.1} %", v * 100.0),
                    None => none.to_string(),
                },
                y,
                text_y: y + BAR - 4,
                width: share.map_or(0, |v| (v.clamp(0.0, 1.0) * span).round() as u32),
            }
        })
        .collect::<Vec<_>>();
    BarChart {
        width: WIDTH,
        height: (bars.len() as u32 * ROW).max(ROW) + 8,
        left: LEFT,
        bar_height: BAR,
        bars,
    }
}

/// A line through values in order (days), from zero up to the largest value.
pub struct LineChart {
    pub width: u32,
    pub height: u32,
    /// The plot's left, right, top and bottom edges.
    pub left: u32,
    pub right: u32,
    pub top: u32,
    pub bottom: u32,
    /// The `points` of the `<polyline>`: "x,y x,y …".
    pub points: String,
    pub dots: Vec<(u32, u32)>,
    /// The value at the top of the axis (the largest), and the first and last labels.
    pub max: String,
    pub first: String,
    pub last: String,
}

const LINE_HEIGHT: u32 = 220;
const LINE_LEFT: u32 = 80;
const LINE_TOP: u32 = 12;
const LINE_BOTTOM_ROOM: u32 = 30;
const LINE_RIGHT_ROOM: u32 = 20;

/// A line for labelled values in order; `None` for fewer than two (no line to draw).
pub fn line(values: &[(String, i64)]) -> Option<LineChart> {
    if values.len() < 2 {
        return None;
    }
    let max = values.iter().map(|v| v.1).max().unwrap_or(0).max(1);
    let (left, right) = (LINE_LEFT, WIDTH - LINE_RIGHT_ROOM);
    let (top, bottom) = (LINE_TOP, LINE_HEIGHT - LINE_BOTTOM_ROOM);
    let step = f64::from(right - left) / (values.len() - 1) as f64;
    let dots: Vec<(u32, u32)> = values
        .iter()
        .enumerate()
        .map(|(i, (_, v))| {
            let x = f64::from(left) + step * i as f64;
            let frac = (*v).max(0) as f64 / max as f64;
            let y = f64::from(bottom) - frac * f64::from(bottom - top);
            (x.round() as u32, y.round() as u32)
        })
        .collect();
    Some(LineChart {
        width: WIDTH,
        height: LINE_HEIGHT,
        left,
        right,
        top,
        bottom,
        points: dots
            .iter()
            .map(|(x, y)| format!("{x},{y}"))
            .collect::<Vec<_>>()
            .join(" "),
        dots,
        max: super::thousands(max),
        first: values[0].0.clone(),
        last: values[values.len() - 1].0.clone(),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_line_runs_from_the_first_value_to_the_last_within_the_plot() {
        let days = [("d1".to_string(), 100), ("d2".into(), 50), ("d3".into(), 0)];
        let c = super::line(&days).expect("a line");
        assert_eq!(c.dots.len(), 3);
        assert_eq!(c.dots[0], (c.left, c.top), "the largest at the top");
        assert_eq!(c.dots[2], (c.right, c.bottom), "zero at the bottom");
        assert_eq!(c.dots[1].1, (c.top + c.bottom) / 2);
        assert_eq!(
            (c.first.as_str(), c.last.as_str(), c.max.as_str()),
            ("d1", "d3", "100")
        );
        assert!(super::line(&days[..1]).is_none());
    }

    #[test]
    fn the_largest_value_has_the_longest_bar() {
        let c = super::bars(&[("GB fixed line".into(), 10), ("FR mobile".into(), 40)]);
        assert_eq!(c.bars.len(), 2);
        assert!(c.bars[1].width > c.bars[0].width);
        assert_eq!(
            c.bars[1].width,
            super::WIDTH - super::LEFT - super::VALUE_ROOM
        );
        assert_eq!(c.bars[1].value, "40");
        assert!(super::bars(&[]).bars.is_empty());
    }

    #[test]
    fn a_full_share_fills_the_scale_and_none_draws_no_bar() {
        let c = super::percent_bars(&[("a".into(), Some(1.0)), ("b".into(), None)], "none");
        assert_eq!(
            c.bars[0].width,
            super::WIDTH - super::LEFT - super::VALUE_ROOM
        );
        assert_eq!(c.bars[0].value, "100.0 %");
        assert_eq!((c.bars[1].width, c.bars[1].value.as_str()), (0, "none"));
    }
}
