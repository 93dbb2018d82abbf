import Foundation
import ScalpelCore

/// `report.html` for a run folder: one self-contained page (inline SVG, no scripts, no network)
/// with the paper's main figure (relative top-1 / top-10 / loss drops of forget and retain against
/// the fraction of neurons pruned, Top1 Max Δ marked, an optional random baseline on the same axes),
/// pruned neurons per layer, score distributions with each step's threshold, and a table of steps.
public enum RunReport {
    /// Reads `RUN_DIR/history.json` (and the baseline's) and writes the page to `out` atomically.
    public static func write(run: String, baseline: String? = nil, to out: String) throws {
        let history = try load(run)
        let base = try baseline.map(load)
        let completions = try Completions.load(folder: run)
        try writeAtomically(Data(html(history, run: run, baseline: base, completions: completions).utf8), to: out)
    }

    static func load(_ folder: String) throws -> History {
        let h = try History.load(folder: folder)
        guard !h.steps.isEmpty else {
            throw ScalpelError.invalidFile(
                path: folder,
                reason: "the run has no finished step yet, so nothing to report (continue it with scalpel prune --resume \(folder))")
        }
        return h
    }

    /// The x coordinate of a step: the percentage of neurons pruned, of the kind the run prunes most.
    static func fraction(_ s: StepRecord, _ h: History) -> Double {
        guard let totals = h.totals else { return Double(s.step) }
        return h.config.ffFrac >= h.config.attnFrac
            ? 100 * Double(s.pruned.ff) / Double(max(1, totals.ff))
            : 100 * Double(s.pruned.attn) / Double(max(1, totals.attn))
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(
            of: ">", with: "&gt;")
    }

    /// The completions before and after pruning, side by side (an empty string when there are none).
    static func completionsSection(_ c: Completions?) -> String {
        guard let c, !c.samples.isEmpty else { return "" }
        let afterStep = c.samples.compactMap { $0.after?.step }.max()
        var rows = ""
        for s in c.samples {
            func cell(_ x: Completions.Completion?) -> String {
                x.map { "<td class=\"text\"><pre>\(escape($0.text))</pre></td>" } ?? "<td class=\"text\"><i>not written</i></td>"
            }
            rows +=
                "<tr><td class=\"role \(s.role)\">\(s.role)</td><td class=\"text\"><pre>\(escape(s.prompt))</pre></td>"
                + cell(s.before) + cell(s.after) + "</tr>\n"
        }
        return """
            <h2>What the model writes</h2>
            <p class="sub">Greedy continuations (up to \(c.maxNewTokens) new tokens) of prompts cut from the start of evaluation windows of \
            each data set, by the model before pruning and \(afterStep.map { "after step \($0)" } ?? "after pruning") (<code>completions.json</code>).</p>
            <table class="samples"><tr><th>set</th><th>prompt</th><th>before pruning</th><th>\(afterStep.map { "after step \($0)" } ?? "after")</th></tr>
            \(rows)</table>
            """
    }

    static func html(_ h: History, run: String, baseline: History?, completions: Completions? = nil) -> String {
        let c = h.config
        let kind = c.ffFrac >= c.attnFrac ? "FF" : "attention"
        var series: [LineChart.Series] = []
        func points(_ hist: History, _ key: String, _ metric: (StepRecord.Drops) -> Double) -> [(Double, Double)] {
            hist.steps.compactMap { s in s.drops[key].map { (fraction(s, hist), metric($0)) } }
        }
        series.append(.init(name: "forget top-1", color: "#d62728", points: points(h, "forget") { $0.top1 }))
        series.append(.init(name: "retain top-1", color: "#1f77b4", points: points(h, "retain") { $0.top1 }))
        series.append(.init(name: "forget top-10", color: "#d62728", points: points(h, "forget") { $0.top10 }, dashed: true))
        series.append(.init(name: "retain top-10", color: "#1f77b4", points: points(h, "retain") { $0.top10 }, dashed: true))
        if let b = baseline {
            series.append(.init(name: "random: forget top-1", color: "#ff9896", points: points(b, "forget") { $0.top1 }, dashed: true))
            series.append(.init(name: "random: retain top-1", color: "#aec7e8", points: points(b, "retain") { $0.top1 }, dashed: true))
        }
        var marker: (x: Double, label: String)?
        if let d = h.top1MaxDelta, let s = h.steps.first(where: { $0.step == d.step }) {
            marker = (fraction(s, h), String(format: "Top1 Max Δ = %.1f (step %d)", d.value, d.step))
        }
        let drops = LineChart(
            title: "Relative drop in accuracy (%) against \(kind) neurons pruned",
            xLabel: "\(kind) neurons pruned (%)", yLabel: "drop from step 0 (%)", series: series, marker: marker
        ).svg()
        let loss = LineChart(
            title: "Relative change in loss (%, negative = loss rose)", xLabel: "\(kind) neurons pruned (%)",
            yLabel: "drop from step 0 (%)",
            series: [
                .init(name: "forget loss", color: "#d62728", points: points(h, "forget") { $0.loss }),
                .init(name: "retain loss", color: "#1f77b4", points: points(h, "retain") { $0.loss }),
            ],
            marker: marker
        ).svg()
        let last = h.steps.last!
        let layers = BarChart(
            title: "Pruned neurons per layer (after step \(last.step))", xLabel: "layer", yLabel: "neurons",
            groups: [
                ("FF", "#2ca02c", last.prunedPerLayer.ff.map(Double.init)),
                ("attention", "#9467bd", last.prunedPerLayer.attn.map(Double.init)),
            ]
        ).svg()
        var scoreSeries: [LineChart.Series] = []
        var thresholds: [(Double, String)] = []
        let palette = ["#440154", "#3b528b", "#21918c", "#5ec962", "#fde725", "#e45756", "#f58518", "#72b7b2"]
        let scoreKind = c.ffFrac >= c.attnFrac ? "ff" : "attn"
        for (i, s) in h.steps.enumerated() where s.step > 0 {
            guard let hist = s.scoreHistograms?[scoreKind], hist.counts.count > 0 else { continue }
            let pts = hist.counts.indices.map { ((hist.edges[$0] + hist.edges[$0 + 1]) / 2, Double(hist.counts[$0])) }
            scoreSeries.append(.init(name: "step \(s.step)", color: palette[i % palette.count], points: pts))
            if let t = scoreKind == "ff" ? s.thresholds.ff : s.thresholds.attn, t > 0 { thresholds.append((log10(t), "step \(s.step)")) }
        }
        let scores = LineChart(
            title: "Score distribution (\(kind) neurons) and each step's threshold",
            xLabel: "log10(score)", yLabel: "neurons", series: scoreSeries, marker: nil, verticals: thresholds
        ).svg()
        // multiple-choice sets (--mc): acc and acc_norm columns per set
        let mcNames = Set(h.steps.flatMap { $0.multipleChoice?.keys.map { $0 } ?? [] }).sorted()
        let mcHeader = mcNames.map { "<th>\(escape($0)) acc %</th><th>\(escape($0)) acc_norm %</th>" }.joined()
        var rows = ""
        for s in h.steps {
            let mcCells = mcNames.map { name in
                s.multipleChoice?[name].map { String(format: "<td>%.2f</td><td>%.2f</td>", 100 * $0.acc, 100 * $0.accNorm) }
                    ?? "<td></td><td></td>"
            }.joined()
            let f = s.metrics["forget"], r = s.metrics["retain"]
            func pct(_ v: Double?) -> String { v.map { String(format: "%.2f", 100 * $0) } ?? "" }
            func num(_ v: Double?) -> String { v.map { String(format: "%.4f", $0) } ?? "" }
            rows +=
                "<tr><td>\(s.step)</td><td>\(s.pruned.ff)</td><td>\(s.pruned.attn)</td>"
                + "<td>\(num(f?.loss))</td><td>\(pct(f?.top1))</td><td>\(pct(f?.top10))</td>"
                + "<td>\(num(r?.loss))</td><td>\(pct(r?.top1))</td><td>\(pct(r?.top10))</td>"
                + "<td>\(String(format: "%.2f", s.drops["forget"]?.top1 ?? 0))</td><td>\(String(format: "%.2f", s.drops["retain"]?.top1 ?? 0))</td>"
                + mcCells + "<td>\(String(format: "%.1f", s.seconds))</td></tr>\n"
        }
        let headline =
            h.top1MaxDelta.map { String(format: "Top1 Max Δ = <b>%.1f</b> at step %d", $0.value, $0.step) } ?? "no pruning step yet"
        let settings =
            "FF \(c.ffFrac) per step (\(c.ffMetric.rawValue)), attention \(c.attnFrac) per step (\(c.attnMetric.rawValue)), "
            + "\(c.recollect ? "iterative" : "one-shot"), offset \(c.offset), \(c.collectTokens) predictions collected and \(c.evalTokens) evaluated per data set"
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>Scalpel run: \(escape(run))</title>
            <style>
            body { font-family: system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif; margin: 24px auto; max-width: 1000px; color: #222; }
            h1 { font-size: 22px; margin-bottom: 4px; } .sub { color: #555; font-size: 14px; margin-bottom: 16px; }
            .headline { font-size: 18px; background: #f4f6fa; padding: 10px 14px; border-radius: 6px; }
            table { border-collapse: collapse; font-size: 13px; margin-top: 12px; } td, th { border-bottom: 1px solid #ddd; padding: 4px 8px; text-align: right; }
            th { background: #f4f6fa; } svg { display: block; margin: 18px 0; }
            table.samples td.text, table.samples th { text-align: left; vertical-align: top; width: 31%; } table.samples pre { white-space: pre-wrap; margin: 0; font-size: 12px; }
            td.role { vertical-align: top; font-weight: 600; } td.forget { color: #d62728; } td.retain { color: #1f77b4; }
            </style></head><body>
            <h1>Selective pruning: \(escape(c.model))</h1>
            <div class="sub">forget <code>\(escape(c.forget))</code> · retain <code>\(escape(c.retain))</code><br>\(escape(settings))<br>\(escape(h.stopped ?? "running"))</div>
            <div class="headline">\(headline) — the largest gap between the forget and retain top-1 drops (METHOD.md §6: drop = 100·(1 − acc/acc₀)).</div>
            \(drops)
            \(loss)
            \(layers)
            \(scores)
            \(completionsSection(completions))
            <h2>Steps</h2>
            <table><tr><th>step</th><th>FF pruned</th><th>attn pruned</th><th>forget loss</th><th>forget top-1 %</th><th>forget top-10 %</th>
            <th>retain loss</th><th>retain top-1 %</th><th>retain top-10 %</th><th>forget drop %</th><th>retain drop %</th>\(mcHeader)<th>seconds</th></tr>
            \(rows)</table>
            </body></html>

            """
    }
}

/// A line chart as inline SVG.
struct LineChart {
    struct Series {
        var name: String, color: String, points: [(Double, Double)], dashed = false
    }
    var title: String, xLabel: String, yLabel: String
    var series: [Series]
    var marker: (x: Double, label: String)?
    var verticals: [(Double, String)] = []
    let width = 900.0, height = 380.0, left = 70.0, right = 190.0, top = 40.0, bottom = 50.0

    func svg() -> String {
        let all = series.flatMap(\.points) + verticals.map { ($0.0, 0) } + (marker.map { [($0.x, 0)] } ?? [])
        guard !all.isEmpty else {
            return "<svg class=\"chart\" width=\"900\" height=\"60\"><text x=\"10\" y=\"30\">\(title): no data</text></svg>"
        }
        var (x0, x1) = (all.map(\.0).min()!, all.map(\.0).max()!)
        var (y0, y1) = (min(0, all.map(\.1).min()!), max(1, all.map(\.1).max()!))
        if x1 - x0 < 1e-9 { x0 -= 1; x1 += 1 }
        let pad = (y1 - y0) * 0.05; y0 -= pad; y1 += pad
        let pw = width - left - right, ph = height - top - bottom
        func X(_ x: Double) -> Double { left + (x - x0) / (x1 - x0) * pw }
        func Y(_ y: Double) -> Double { top + (1 - (y - y0) / (y1 - y0)) * ph }
        var out =
            "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" font-size=\"12\">\n"
        out += "<text x=\"\(left)\" y=\"22\" font-size=\"15\" font-weight=\"600\">\(RunReport.escape(title))</text>\n"
        for t in ticks(y0, y1) {
            out +=
                "<line x1=\"\(left)\" x2=\"\(left + pw)\" y1=\"\(Y(t))\" y2=\"\(Y(t))\" stroke=\"#eee\"/><text x=\"\(left - 6)\" y=\"\(Y(t) + 4)\" text-anchor=\"end\">\(fmt(t))</text>\n"
        }
        for t in ticks(x0, x1) {
            out +=
                "<line x1=\"\(X(t))\" x2=\"\(X(t))\" y1=\"\(top + ph)\" y2=\"\(top + ph + 5)\" stroke=\"#888\"/><text x=\"\(X(t))\" y=\"\(top + ph + 18)\" text-anchor=\"middle\">\(fmt(t))</text>\n"
        }
        out += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(pw)\" height=\"\(ph)\" fill=\"none\" stroke=\"#888\"/>\n"
        if y0 < 0 && y1 > 0 { out += "<line x1=\"\(left)\" x2=\"\(left + pw)\" y1=\"\(Y(0))\" y2=\"\(Y(0))\" stroke=\"#999\"/>\n" }
        out += "<text x=\"\(left + pw / 2)\" y=\"\(height - 10)\" text-anchor=\"middle\">\(RunReport.escape(xLabel))</text>\n"
        out += "<text transform=\"translate(16 \(top + ph / 2)) rotate(-90)\" text-anchor=\"middle\">\(RunReport.escape(yLabel))</text>\n"
        for (x, label) in verticals {
            out +=
                "<line class=\"threshold\" x1=\"\(X(x))\" x2=\"\(X(x))\" y1=\"\(top)\" y2=\"\(top + ph)\" stroke=\"#777\" stroke-dasharray=\"2 3\"><title>threshold \(label)</title></line>\n"
        }
        if let m = marker {
            out +=
                "<line class=\"maxdelta\" x1=\"\(X(m.x))\" x2=\"\(X(m.x))\" y1=\"\(top)\" y2=\"\(top + ph)\" stroke=\"#000\" stroke-dasharray=\"5 4\"/>"
            out += "<text x=\"\(X(m.x) + 5)\" y=\"\(top + 14)\">\(RunReport.escape(m.label))</text>\n"
        }
        for (i, s) in series.enumerated() where !s.points.isEmpty {
            let pts = s.points.map { "\(X($0.0)),\(Y($0.1))" }.joined(separator: " ")
            out +=
                "<polyline class=\"series\" fill=\"none\" stroke=\"\(s.color)\" stroke-width=\"2\"\(s.dashed ? " stroke-dasharray=\"6 4\"" : "") points=\"\(pts)\"><title>\(RunReport.escape(s.name))</title></polyline>\n"
            for p in s.points where s.points.count < 60 {
                out += "<circle cx=\"\(X(p.0))\" cy=\"\(Y(p.1))\" r=\"2.5\" fill=\"\(s.color)\"/>"
            }
            let ly = top + 10 + Double(i) * 18
            out +=
                "<line x1=\"\(left + pw + 12)\" x2=\"\(left + pw + 36)\" y1=\"\(ly)\" y2=\"\(ly)\" stroke=\"\(s.color)\" stroke-width=\"2\"\(s.dashed ? " stroke-dasharray=\"6 4\"" : "")/>"
            out += "<text x=\"\(left + pw + 42)\" y=\"\(ly + 4)\">\(RunReport.escape(s.name))</text>\n"
        }
        return out + "</svg>"
    }
}

/// A grouped bar chart as inline SVG.
struct BarChart {
    var title: String, xLabel: String, yLabel: String
    var groups: [(name: String, color: String, values: [Double])]
    let width = 900.0, height = 300.0, left = 70.0, right = 120.0, top = 40.0, bottom = 50.0

    func svg() -> String {
        let n = groups.map(\.values.count).max() ?? 0
        let y1 = max(1, groups.flatMap(\.values).max() ?? 1) * 1.08
        let pw = width - left - right, ph = height - top - bottom
        let slot = pw / Double(max(n, 1)), bar = slot * 0.8 / Double(max(groups.count, 1))
        var out =
            "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" font-size=\"12\">\n"
        out += "<text x=\"\(left)\" y=\"22\" font-size=\"15\" font-weight=\"600\">\(RunReport.escape(title))</text>\n"
        for t in ticks(0, y1) {
            let y = top + (1 - t / y1) * ph
            out +=
                "<line x1=\"\(left)\" x2=\"\(left + pw)\" y1=\"\(y)\" y2=\"\(y)\" stroke=\"#eee\"/><text x=\"\(left - 6)\" y=\"\(y + 4)\" text-anchor=\"end\">\(fmt(t))</text>\n"
        }
        for (g, group) in groups.enumerated() {
            for (i, v) in group.values.enumerated() {
                let h = v / y1 * ph
                out +=
                    "<rect class=\"bar\" x=\"\(left + Double(i) * slot + slot * 0.1 + Double(g) * bar)\" y=\"\(top + ph - h)\" width=\"\(bar)\" height=\"\(h)\" fill=\"\(group.color)\"><title>\(group.name) layer \(i): \(Int(v))</title></rect>"
            }
            out +=
                "<rect x=\"\(left + pw + 12)\" y=\"\(top + Double(g) * 18)\" width=\"12\" height=\"12\" fill=\"\(group.color)\"/><text x=\"\(left + pw + 30)\" y=\"\(top + Double(g) * 18 + 10)\">\(group.name)</text>\n"
        }
        for i in stride(from: 0, to: n, by: max(1, n / 15)) {
            out += "<text x=\"\(left + (Double(i) + 0.5) * slot)\" y=\"\(top + ph + 16)\" text-anchor=\"middle\">\(i)</text>"
        }
        out += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(pw)\" height=\"\(ph)\" fill=\"none\" stroke=\"#888\"/>\n"
        out += "<text x=\"\(left + pw / 2)\" y=\"\(height - 10)\" text-anchor=\"middle\">\(xLabel)</text>\n"
        out += "<text transform=\"translate(16 \(top + ph / 2)) rotate(-90)\" text-anchor=\"middle\">\(yLabel)</text>\n"
        return out + "</svg>"
    }
}

/// About five round tick values covering [lo, hi].
func ticks(_ lo: Double, _ hi: Double) -> [Double] {
    let span = max(hi - lo, 1e-12)
    let raw = span / 5, mag = pow(10, floor(log10(raw)))
    let step = [1.0, 2, 2.5, 5, 10].map { $0 * mag }.first { $0 >= raw } ?? raw
    var t = (lo / step).rounded(.up) * step
    var out: [Double] = []
    while t <= hi + step * 1e-9 { out.append(t); t += step }
    return out
}

func fmt(_ v: Double) -> String {
    abs(v) >= 100 || v == v.rounded() ? String(format: "%.0f", v) : String(format: abs(v) >= 1 ? "%.1f" : "%.2g", v)
}
