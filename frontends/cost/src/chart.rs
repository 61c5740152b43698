//! The SVG chart: the monthly bill against monthly invocations, as
//! measured and at the floor where lee adds nothing to Home Assistant's
//! latency, with the volume the report priced marked.

use std::path::Path;

use plotters::prelude::*;

use crate::billing::{FREE_REQUESTS, MonthlyCost};
use crate::report::thousands;

/// Points on each line.
const STEPS: u64 = 200;

/// Draw the chart into `path`: the bill for invocations of
/// `measured_gb_s` and `floor_gb_s` GB-seconds each, up to twice `monthly`
/// (and at least twice the free requests), `monthly` marked.
pub fn draw(
    path: &Path,
    memory_mb: u32,
    measured_gb_s: f64,
    floor_gb_s: f64,
    monthly: u64,
) -> Result<(), String> {
    let x_max = monthly.max(FREE_REQUESTS).saturating_mul(2);
    let bill = |gb_s: f64, invocations: u64| MonthlyCost::of(invocations, gb_s).total();
    let y_max = (bill(measured_gb_s, x_max).max(bill(floor_gb_s, x_max)) * 1.15).max(0.01);
    let line = |gb_s: f64| -> Vec<(f64, f64)> {
        (0..=STEPS)
            .map(|i| {
                let invocations = x_max / STEPS * i;
                (invocations as f64 / 1e6, bill(gb_s, invocations))
            })
            .collect()
    };
    let failed = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());

    let root = SVGBackend::new(path, (960, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| failed(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("lee on AWS Lambda (arm64, {memory_mb} MB): monthly bill past the free tier"),
            ("sans-serif", 22),
        )
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..x_max as f64 / 1e6, 0.0..y_max)
        .map_err(|e| failed(&e))?;
    chart
        .configure_mesh()
        .x_desc("invocations a month (millions)")
        .y_desc("US dollars a month")
        .y_label_formatter(&|y| format!("${y:.2}"))
        .draw()
        .map_err(|e| failed(&e))?;
    let lee = RED.stroke_width(3);
    chart
        .draw_series(LineSeries::new(line(measured_gb_s), lee))
        .map_err(|e| failed(&e))?
        .label("lee, as measured")
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 24, y)], lee));
    let floor = BLUE.stroke_width(2);
    chart
        .draw_series(DashedLineSeries::new(line(floor_gb_s), 8, 6, floor))
        .map_err(|e| failed(&e))?
        .label("floor: billed for Home Assistant's wait only")
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 24, y)], floor));
    let marked = (monthly as f64 / 1e6, bill(measured_gb_s, monthly));
    chart
        .draw_series([
            Circle::new(marked, 5, BLACK.filled()).into_dyn(),
            Text::new(
                format!(
                    "{} a month: ${:.2}",
                    thousands(monthly),
                    bill(measured_gb_s, monthly)
                ),
                (marked.0, marked.1 + y_max * 0.07),
                ("sans-serif", 15),
            )
            .into_dyn(),
        ])
        .map_err(|e| failed(&e))?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(|e| failed(&e))?;
    root.present().map_err(|e| failed(&e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::gb_seconds;

    #[test]
    fn the_chart_is_an_svg_with_both_lines_and_the_marked_volume() {
        let path = std::env::temp_dir().join(format!("lee-cost-chart-{}.svg", std::process::id()));
        draw(
            &path,
            128,
            gb_seconds(2.0, 128),
            gb_seconds(1.0, 128),
            3_000_000,
        )
        .unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..80.min(svg.len())]);
        assert!(svg.contains("lee, as measured"));
        assert!(svg.contains("floor: billed for Home Assistant"));
        assert!(svg.contains("3,000,000 a month: $0.40"));
        assert!(svg.matches("<polyline").count() >= 2, "no lines drawn");
    }

    #[test]
    fn an_unwritable_path_says_which() {
        let path = Path::new("/nonexistent-lee-cost-dir/chart.svg");
        let error = draw(path, 128, 0.0001, 0.0001, 10).unwrap_err();
        assert!(
            error.contains("/nonexistent-lee-cost-dir/chart.svg"),
            "{error}"
        );
    }
}
