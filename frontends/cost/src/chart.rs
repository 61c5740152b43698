//! The SVG chart: lee against the new-connection baseline, in the
//! scenario its title states (memory, link, workload, Home Assistant).
//!
//! Left, the mean billed duration of an invocation as bars, lee's beside
//! the baseline's: for invocations that found lee's connection open, for
//! those that opened a new one (after the idle limit, cold), and for the
//! whole workload. Right, the GB-seconds a month against invocations a
//! month, one line each, with the free tier's 400 000 GB-s and the priced
//! volume marked: what separates the two while the free requests keep
//! both bills equal. The words sit outside the plots (title, legend,
//! footer) and each bar's value above its own bar, so no label covers
//! another, a bar or a line.

use std::error::Error;
use std::path::Path;

use plotters::coord::combinators::BindKeyPoints;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::billing::{FREE_GB_SECONDS, FREE_REQUESTS, MonthlyCost};
use crate::measure::Billed;
use crate::report::{thousands, usd};

/// lee's colour (bars and line).
const LEE: RGBColor = RGBColor(0x1b, 0x9e, 0x77);
/// The baseline's colour.
const BASELINE: RGBColor = RGBColor(0xd9, 0x5f, 0x02);
/// The free tier's line.
const FREE: RGBColor = RGBColor(0x70, 0x70, 0x70);

/// The canvas, pixels.
const SIZE: (u32, u32) = (1000, 660);
/// The band above the plots: title, scenario, legend.
const HEAD: u32 = 132;
/// The band below them: the bill at the priced volume.
const FOOT: u32 = 58;
/// The bar plot's share of the width.
const LEFT: u32 = 470;

/// What the chart shows.
pub struct Figure {
    /// The scenario, two lines: the function and the link; the workload and
    /// Home Assistant.
    pub scenario: [String; 2],
    /// Billed durations: warm invocations, those on a new connection (after
    /// the idle limit or cold), all of them.
    pub bars: [Billed; 3],
    /// lee's GB-seconds per invocation.
    pub lee_gb_s: f64,
    /// The baseline's.
    pub baseline_gb_s: f64,
    /// The volume priced, invocations a month.
    pub monthly: u64,
}

/// Draw `figure` into the SVG file `path`; errors name the file.
pub fn draw(path: &Path, figure: &Figure) -> Result<(), String> {
    paint(path, figure).map_err(|e| format!("{}: {e}", path.display()))
}

type Drawn = Result<(), Box<dyn Error>>;

fn paint(path: &Path, figure: &Figure) -> Drawn {
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let (head, rest) = root.split_vertically(HEAD);
    let (body, foot) = rest.split_vertically(SIZE.1 - HEAD - FOOT);
    let (left, right) = body.split_horizontally(LEFT);
    let cap_shown = gb_seconds_plot(&right, figure)?;
    heading(&head, figure, cap_shown)?;
    bars(&left, &figure.bars)?;
    footer(&foot, figure)?;
    root.present()?;
    Ok(())
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

/// `words` in `font` at `at` in `area`, anchored there at `h` and the top.
fn say(area: &Area<'_>, words: &str, at: (i32, i32), font: FontDesc<'_>, h: HPos) -> Drawn {
    let style = TextStyle::from(font).pos(Pos::new(h, VPos::Top));
    area.draw(&Text::new(words, at, style))?;
    Ok(())
}

/// The title, the scenario and the legend.
fn heading(head: &Area<'_>, figure: &Figure, cap_shown: bool) -> Drawn {
    let middle = SIZE.0 as i32 / 2;
    let title = ("sans-serif", 22).into_font().style(FontStyle::Bold);
    say(
        head,
        "AWS Lambda bill: lee beside a new connection every invocation",
        (middle, 8),
        title,
        HPos::Center,
    )?;
    for (line, words) in figure.scenario.iter().enumerate() {
        let y = 38 + 20 * line as i32;
        say(
            head,
            words,
            (middle, y),
            ("sans-serif", 15).into_font(),
            HPos::Center,
        )?;
    }
    let cap = if cap_shown {
        format!(
            "free tier: {} GB-s a month",
            thousands(FREE_GB_SECONDS as u64)
        )
    } else {
        format!(
            "free tier: {} GB-s a month, above the right plot",
            thousands(FREE_GB_SECONDS as u64)
        )
    };
    let entries: [(&str, Swatch); 4] = [
        (
            "lee: keeps its connection (1 RTT warm, 3 RTT after idle or cold)",
            Swatch::Series(LEE, false),
        ),
        (
            "baseline: a new connection every invocation (3 RTT)",
            Swatch::Series(BASELINE, true),
        ),
        (&cap, Swatch::Dashed),
        (
            &format!(
                "{} invocations a month (--monthly)",
                thousands(figure.monthly)
            ),
            Swatch::Marker,
        ),
    ];
    for (i, (words, swatch)) in entries.iter().enumerate() {
        let x = if i % 2 == 0 { 30 } else { 520 };
        let y = 86 + 22 * (i / 2) as i32;
        swatch.draw(head, (x, y + 7))?;
        say(
            head,
            words,
            (x + 50, y),
            ("sans-serif", 14).into_font(),
            HPos::Left,
        )?;
    }
    Ok(())
}

/// A legend entry's sample.
enum Swatch {
    /// A bar and a line in a colour, the line dashed or not.
    Series(RGBColor, bool),
    /// The free tier's dashed grey line.
    Dashed,
    /// The priced volume's mark.
    Marker,
}

impl Swatch {
    /// The sample, `at` its left middle, 42 pixels wide.
    fn draw(&self, area: &Area<'_>, (x, y): (i32, i32)) -> Drawn {
        let dashes = |colour: RGBColor, width: u32, from: i32, to: i32| {
            (from..to)
                .step_by(9)
                .map(move |start| {
                    PathElement::new(
                        [(start, y), ((start + 5).min(to), y)],
                        colour.stroke_width(width),
                    )
                })
                .collect::<Vec<_>>()
        };
        match *self {
            Swatch::Series(colour, dashed) => {
                area.draw(&Rectangle::new(
                    [(x, y - 6), (x + 12, y + 6)],
                    colour.filled(),
                ))?;
                if dashed {
                    for dash in dashes(colour, 3, x + 18, x + 42) {
                        area.draw(&dash)?;
                    }
                } else {
                    area.draw(&PathElement::new(
                        [(x + 18, y), (x + 42, y)],
                        colour.stroke_width(3),
                    ))?;
                }
            }
            Swatch::Dashed => {
                for dash in dashes(FREE, 2, x, x + 42) {
                    area.draw(&dash)?;
                }
            }
            Swatch::Marker => {
                area.draw(&PathElement::new([(x + 21, y - 8), (x + 21, y + 8)], BLACK))?;
                area.draw(&Circle::new((x + 21, y), 4, BLACK.filled()))?;
            }
        }
        Ok(())
    }
}

/// The bars: mean billed ms, lee's beside the baseline's, by arrival.
fn bars(area: &Area<'_>, bars: &[Billed; 3]) -> Drawn {
    let tallest = bars
        .iter()
        .map(|b| b.lee.max(b.baseline))
        .fold(1.0, f64::max);
    let names = [
        format!("warm ({})", thousands(bars[0].count)),
        format!("idle or cold ({})", thousands(bars[1].count)),
        format!("all ({})", thousands(bars[2].count)),
    ];
    let mut chart = ChartBuilder::on(area)
        .caption("billed per invocation (mean)", ("sans-serif", 17))
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(58)
        .build_cartesian_2d(
            (0..3 * GROUP).with_key_points(vec![GROUP / 2, GROUP * 3 / 2, GROUP * 5 / 2]),
            0.0..tallest * 1.2,
        )?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .max_light_lines(1)
        .x_desc("how the invocation found lee's connection")
        .y_desc("ms billed")
        .x_label_formatter(&|x| names[(*x / GROUP).clamp(0, 2) as usize].clone())
        .y_label_formatter(&|y| {
            if tallest >= 10.0 {
                format!("{y:.0}")
            } else {
                format!("{y:.1}")
            }
        })
        .draw()?;
    let value =
        TextStyle::from(("sans-serif", 13).into_font()).pos(Pos::new(HPos::Center, VPos::Bottom));
    for (group, billed) in bars.iter().enumerate() {
        if billed.count == 0 {
            continue;
        }
        let left = group as i32 * GROUP;
        for (from, height, colour) in [
            (left + 10, billed.lee, LEE),
            (left + 52, billed.baseline, BASELINE),
        ] {
            let to = from + 38;
            chart.draw_series([Rectangle::new([(from, 0.0), (to, height)], colour.filled())])?;
            chart.draw_series([EmptyElement::at(((from + to) / 2, height))
                + Text::new(format_ms(height), (0, -3), value.clone())])?;
        }
    }
    Ok(())
}

/// The x axis of the bar plot: each group of two bars spans this many
/// units, lee's bar from 10 to 48, the baseline's from 52 to 90.
const GROUP: i32 = 100;

/// A bar's value: whole milliseconds from 10 ms, else one decimal.
fn format_ms(ms: f64) -> String {
    if ms >= 10.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

/// The GB-seconds a month, lee's and the baseline's, against invocations a
/// month up to twice the priced volume (at least twice the free requests).
/// Returns whether the free tier's GB-seconds are within the plot.
fn gb_seconds_plot(area: &Area<'_>, figure: &Figure) -> Result<bool, Box<dyn Error>> {
    let x_max = figure.monthly.max(FREE_REQUESTS).saturating_mul(2) as f64;
    let top = figure.lee_gb_s.max(figure.baseline_gb_s) * x_max;
    let cap_shown = FREE_GB_SECONDS <= 2.0 * top;
    let y_max = if cap_shown {
        top.max(FREE_GB_SECONDS) * 1.12
    } else {
        (top * 1.15).max(1.0)
    };
    let mut chart = ChartBuilder::on(area)
        .caption("GB-seconds a month", ("sans-serif", 17))
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..x_max / 1e6, 0.0..y_max)?;
    chart
        .configure_mesh()
        .max_light_lines(1)
        .x_desc("invocations a month (millions)")
        .y_desc("GB-s a month")
        .y_label_formatter(&|y| {
            if y_max >= 10_000.0 {
                format!("{}k", thousands((y / 1000.0).round() as u64))
            } else {
                format!("{y:.0}")
            }
        })
        .draw()?;
    let line = |gb_s: f64| [(0.0, 0.0), (x_max / 1e6, gb_s * x_max)];
    if cap_shown {
        let cap = [(0.0, FREE_GB_SECONDS), (x_max / 1e6, FREE_GB_SECONDS)];
        chart.draw_series(DashedLineSeries::new(cap, 10, 6, FREE.stroke_width(2)))?;
    }
    let monthly = figure.monthly as f64;
    chart.draw_series(DashedLineSeries::new(
        [(monthly / 1e6, 0.0), (monthly / 1e6, y_max)],
        3,
        4,
        BLACK.stroke_width(1),
    ))?;
    chart.draw_series(LineSeries::new(line(figure.lee_gb_s), LEE.stroke_width(3)))?;
    chart.draw_series(DashedLineSeries::new(
        line(figure.baseline_gb_s),
        12,
        6,
        BASELINE.stroke_width(3),
    ))?;
    for (gb_s, colour) in [(figure.lee_gb_s, LEE), (figure.baseline_gb_s, BASELINE)] {
        chart.draw_series([Circle::new(
            (monthly / 1e6, gb_s * monthly),
            5,
            colour.filled(),
        )])?;
    }
    Ok(cap_shown)
}

/// The bill at the priced volume, and how far each stays free.
fn footer(foot: &Area<'_>, figure: &Figure) -> Drawn {
    let bill = |gb_s| MonthlyCost::of(figure.monthly, gb_s).total();
    let (lee, baseline) = (bill(figure.lee_gb_s), bill(figure.baseline_gb_s));
    let gb_s = |each: f64| thousands((each * figure.monthly as f64).round() as u64);
    let free_to = |each: f64| millions((FREE_GB_SECONDS / each).floor());
    let lines = [
        format!(
            "At {} invocations a month: lee {} ({} GB-s), the baseline {} ({} GB-s); lee saves {}.",
            thousands(figure.monthly),
            usd(lee),
            gb_s(figure.lee_gb_s),
            usd(baseline),
            gb_s(figure.baseline_gb_s),
            usd(baseline - lee),
        ),
        format!(
            "Free tier: {} requests a month, for both; its {} GB-s last lee to {} \
             invocations a month, the baseline to {}.",
            thousands(FREE_REQUESTS),
            thousands(FREE_GB_SECONDS as u64),
            free_to(figure.lee_gb_s),
            free_to(figure.baseline_gb_s),
        ),
    ];
    for (i, words) in lines.iter().enumerate() {
        let y = 8 + 22 * i as i32;
        say(
            foot,
            words,
            (30, y),
            ("sans-serif", 14).into_font(),
            HPos::Left,
        )?;
    }
    Ok(())
}

/// Invocations in millions: `61.5 M`, `3,200 M`.
fn millions(n: f64) -> String {
    match n / 1e6 {
        m if !m.is_finite() => "any number".to_string(),
        m if m >= 100.0 => format!("{} M", thousands(m.round() as u64)),
        m => format!("{m:.1} M"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::gb_seconds;

    /// A figure at `rtt` ms, lee's mean `lee_ms`, with `warm` of 10 000
    /// invocations warm.
    fn figure(rtt: f64, lee_ms: f64, warm: u64, scenario: &str) -> Figure {
        let baseline_ms = 3.0 * rtt + 1.0;
        Figure {
            scenario: [
                format!("arm64, 128 MB · {scenario}"),
                "the built-in mix (seed 2026), 10,000 invocations · Home Assistant: the \
                 embedded demo home"
                    .to_string(),
            ],
            bars: [
                Billed {
                    count: warm,
                    lee: rtt + 1.0,
                    baseline: baseline_ms,
                },
                Billed {
                    count: 10_000 - warm,
                    lee: baseline_ms,
                    baseline: baseline_ms,
                },
                Billed {
                    count: 10_000,
                    lee: lee_ms,
                    baseline: baseline_ms,
                },
            ],
            lee_gb_s: gb_seconds(lee_ms, 128),
            baseline_gb_s: gb_seconds(baseline_ms, 128),
            monthly: 3_000_000,
        }
    }

    fn at_50_ms() -> Figure {
        figure(
            50.0,
            81.0,
            7_000,
            "RTT 50 ms, 30% of invocations after the idle limit",
        )
    }

    fn at_100_ms() -> Figure {
        figure(
            100.0,
            261.0,
            2_000,
            "RTT 100 ms, 80% of invocations after the idle limit",
        )
    }

    fn svg(figure: &Figure) -> String {
        let path = std::env::temp_dir().join(format!(
            "lee-cost-chart-{}-{:?}.svg",
            std::process::id(),
            std::thread::current().id()
        ));
        draw(&path, figure).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        svg
    }

    /// The `name="..."` attribute of an SVG element.
    fn attribute<'a>(element: &'a str, name: &str) -> Option<&'a str> {
        let start = element.find(&format!(" {name}=\""))? + name.len() + 3;
        let len = element[start..].find('"')?;
        Some(&element[start..start + len])
    }

    fn number(element: &str, name: &str) -> f64 {
        attribute(element, name)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {element}"))
    }

    /// The elements `<tag ...>` of `svg`, each from the space before its
    /// first attribute up to the end of its text.
    fn elements<'a>(svg: &'a str, tag: &str) -> Vec<&'a str> {
        svg.split(&format!("<{tag}"))
            .skip(1)
            .filter(|rest| rest.starts_with(' '))
            .map(|rest| rest.split("</").next().unwrap_or(rest))
            .collect()
    }

    fn colour(c: RGBColor) -> String {
        format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2)
    }

    /// The points of every polyline stroked in `c` in the right plot
    /// (not the legend's samples).
    fn lines_in(svg: &str, c: RGBColor) -> Vec<String> {
        elements(svg, "polyline")
            .into_iter()
            .filter(|e| attribute(e, "stroke") == Some(&colour(c)))
            .filter_map(|e| attribute(e, "points").map(str::to_string))
            .filter(|points| {
                let first = points
                    .split_whitespace()
                    .next()
                    .and_then(|p| p.split_once(','));
                let (x, y) = first.unwrap_or_default();
                x.parse::<u32>().is_ok_and(|x| x > LEFT) && y.parse::<u32>().is_ok_and(|y| y > HEAD)
            })
            .collect()
    }

    /// How steeply a polyline `x,y x,y ...` climbs, pixels up per pixel right.
    fn slope(points: &str) -> f64 {
        let points: Vec<(f64, f64)> = points
            .split_whitespace()
            .filter_map(|p| p.split_once(','))
            .map(|(x, y)| (x.parse().unwrap(), y.parse().unwrap()))
            .collect();
        let ((x0, y0), (x1, y1)) = (points[0], points[points.len() - 1]);
        (y0 - y1) / (x1 - x0)
    }

    /// The rectangles filled in `c`: (x, y, width, height).
    fn rects_in(svg: &str, c: RGBColor) -> Vec<[f64; 4]> {
        elements(svg, "rect")
            .into_iter()
            .filter(|e| attribute(e, "fill") == Some(&colour(c)))
            .map(|e| ["x", "y", "width", "height"].map(|name| number(e, name)))
            .collect()
    }

    /// Each unrotated text's words and its box (left, top, right, bottom),
    /// at a generous 0.6 em a character.
    fn text_boxes(svg: &str) -> Vec<(String, [f64; 4])> {
        elements(svg, "text")
            .into_iter()
            .filter(|e| attribute(e, "transform").is_none())
            .map(|e| {
                let words = e.rsplit('>').next().unwrap_or("").trim().to_string();
                let (x, y, size) = (number(e, "x"), number(e, "y"), number(e, "font-size"));
                let width = 0.6 * size * words.chars().count() as f64;
                let left = match attribute(e, "text-anchor") {
                    Some("middle") => x - width / 2.0,
                    Some("end") => x - width,
                    _ => x,
                };
                let top = match attribute(e, "dy") {
                    Some("0.76em") => y,
                    Some("-0.5ex") => y - size,
                    _ => y - size / 2.0,
                };
                (words, [left, top, left + width, top + size])
            })
            .collect()
    }

    fn overlap(a: [f64; 4], b: [f64; 4]) -> bool {
        a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3]
    }

    #[test]
    fn the_title_states_the_scenario_and_both_are_drawn_apart() {
        let svg = svg(&at_50_ms());
        assert!(svg.starts_with("<svg"), "{}", &svg[..80.min(svg.len())]);
        for words in [
            "arm64, 128 MB · RTT 50 ms, 30% of invocations after the idle limit",
            "the built-in mix (seed 2026), 10,000 invocations · Home Assistant: the embedded demo home",
            "lee: keeps its connection",
            "baseline: a new connection every invocation",
            "3,000,000 invocations a month (--monthly)",
            "warm (7,000)",
            "idle or cold (3,000)",
            "lee saves $0.00",
        ] {
            assert!(svg.contains(words), "no {words:?}");
        }
        // lee's bars: 51, 151 and 81 ms; the baseline's all 151 ms.
        let texts: Vec<String> = text_boxes(&svg)
            .into_iter()
            .map(|(words, _)| words)
            .collect();
        for value in ["51 ms", "81 ms", "151 ms"] {
            assert!(
                texts.iter().any(|t| t == value),
                "no bar value {value}: {texts:?}"
            );
        }
        let lee = lines_in(&svg, LEE);
        let baseline = lines_in(&svg, BASELINE);
        assert_eq!(lee.len(), 1, "lee's line: {lee:?}");
        assert!(baseline.len() > 1, "the baseline's dashes: {baseline:?}");
        // The baseline bills 151 ms to lee's 81: its line climbs 1.86 times as steeply.
        let ratio = slope(&baseline.join(" ")) / slope(&lee[0]);
        assert!((1.7..2.0).contains(&ratio), "{ratio}: {lee:?} {baseline:?}");
        let bars = |c| {
            rects_in(&svg, c)
                .into_iter()
                .filter(|r| r[2] > 20.0)
                .count()
        };
        assert_eq!((bars(LEE), bars(BASELINE)), (3, 3));
    }

    #[test]
    fn different_scenarios_draw_different_charts() {
        let (first, second) = (svg(&at_50_ms()), svg(&at_100_ms()));
        assert_ne!(first, second);
        assert_eq!(
            first,
            svg(&at_50_ms()),
            "the same scenario draws the same chart"
        );
        assert!(second.contains("RTT 100 ms, 80% of invocations after the idle limit"));
        assert_ne!(lines_in(&first, LEE), lines_in(&second, LEE));
        assert_ne!(rects_in(&first, LEE), rects_in(&second, LEE));
    }

    #[test]
    fn no_label_overlaps_another_or_a_bar() {
        let busy = Figure {
            monthly: 40_000_000,
            ..figure(
                150.0,
                451.0,
                0,
                "RTT 150 ms, 100% of invocations after the idle limit",
            )
        };
        let loopback = figure(
            0.0,
            1.0,
            9_999,
            "RTT 0 ms, 0% of invocations after the idle limit",
        );
        for figure in [at_50_ms(), at_100_ms(), busy, loopback] {
            let svg = svg(&figure);
            let texts = text_boxes(&svg);
            assert!(texts.len() > 20, "{texts:?}");
            for (i, (a, a_box)) in texts.iter().enumerate() {
                assert!(
                    a_box[0] >= 0.0 && a_box[2] <= f64::from(SIZE.0),
                    "{a:?} leaves the canvas: {a_box:?}"
                );
                for (b, b_box) in &texts[i + 1..] {
                    assert!(
                        !overlap(*a_box, *b_box),
                        "{a:?} {a_box:?} overlaps {b:?} {b_box:?}"
                    );
                }
                for bar in rects_in(&svg, LEE)
                    .into_iter()
                    .chain(rects_in(&svg, BASELINE))
                {
                    let bar = [bar[0], bar[1], bar[0] + bar[2], bar[1] + bar[3]];
                    assert!(
                        !overlap(*a_box, bar),
                        "{a:?} {a_box:?} covers the bar {bar:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn an_unwritable_path_says_which() {
        let path = Path::new("/nonexistent-lee-cost-dir/chart.svg");
        let error = draw(path, &at_50_ms()).unwrap_err();
        assert!(
            error.contains("/nonexistent-lee-cost-dir/chart.svg"),
            "{error}"
        );
    }
}
