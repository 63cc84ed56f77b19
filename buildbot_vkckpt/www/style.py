"""The page's style sheet, every rule scoped to ``.vkd`` (the UI shows the fragment inside its
own page). NOT TESTED has its own colour, never green; a regression is orange."""
STYLE = """<style>
.vkd { font-size: 13px; }
.vkd h2 { font-size: 20px; margin: 8px 0; }
.vkd h3 { font-size: 16px; margin: 18px 0 6px; }
.vkd .vkd-note { color: #666; margin: 2px 0 8px; }
.vkd .vkd-latest { font-size: 15px; margin: 4px 0 8px; }
.vkd .vkd-trends { display: flex; flex-wrap: wrap; gap: 24px; margin: 6px 0 10px; }
.vkd figure { margin: 0; }
.vkd figcaption { color: #555; font-size: 12px; }
.vkd .vkd-spark polyline { fill: none; stroke: #30426a; stroke-width: 1.5; }
.vkd .vkd-spark circle { fill: #30426a; }
.vkd .vkd-spark circle.vkd-red { fill: #d9534f; }
.vkd .vkd-spark circle.vkd-regression { stroke: #e67300; stroke-width: 2.5; }
.vkd .vkd-spark .vkd-axis { stroke: #bbb; stroke-width: 1; }
.vkd .vkd-spark .vkd-scale { fill: #777; font-size: 9px; }
.vkd table { border-collapse: collapse; }
.vkd th, .vkd td { border: 1px solid #ddd; padding: 3px 7px; vertical-align: top; }
.vkd th { background: #f4f4f4; text-align: left; }
.vkd td.vkd-num { text-align: right; white-space: nowrap; }
.vkd .vkd-cycles, .vkd .vkd-date, .vkd .vkd-machine, .vkd .vkd-subject
  { color: #666; font-size: 11px; }
.vkd .vkd-result { padding: 1px 6px; border-radius: 3px; }
.vkd .vkd-r-success { background: #8d4; }
.vkd .vkd-r-warnings { background: #fa3; }
.vkd .vkd-r-failure { background: #e88; }
.vkd .vkd-r-exception { background: #c6f; }
.vkd .vkd-r-skipped { background: #ade; }
.vkd .vkd-r-retry, .vkd .vkd-r-cancelled { background: #ecc; }
.vkd .vkd-r-running { background: #fd3; }
.vkd .vkd-r-unknown { background: #ccc; }
.vkd .vkd-not-tested { background: #6c757d; color: #fff; padding: 1px 6px; border-radius: 3px;
  font-weight: bold; white-space: nowrap; }
.vkd td.vkd-broke { max-width: 30em; }
.vkd td.vkd-tested { max-width: 22em; }
.vkd .vkd-reason { color: #444; font-size: 12px; max-width: 28em; }
.vkd .vkd-not-tested-cell { color: #6c757d; font-weight: bold; }
.vkd .vkd-slower, .vkd .vkd-regression { color: #b35900; font-weight: bold; }
.vkd td.vkd-regressed { background: #fff0e0; }
.vkd ul.vkd-regressions, .vkd ul.vkd-xpass-list { margin: 4px 0 8px; padding-left: 20px; }
.vkd .vkd-xpass { color: #b35900; }
.vkd .vkd-xfail { font-size: 10px; border: 1px solid #999; border-radius: 3px; padding: 0 3px;
  color: #666; }
.vkd .vkd-failed { color: #a00; }
.vkd .vkd-assertion { color: #a00; font-size: 12px; }
.vkd .vkd-panic { color: #a00; font-family: monospace; font-weight: bold; }
.vkd pre.vkd-backtrace { margin: 2px 0; font-size: 11px; background: #fbf3f3; padding: 3px;
  white-space: pre-wrap; }
.vkd code { font-size: 12px; }
.vkd .vkd-host { margin-left: 4px; padding: 0 4px; border: 1px dashed #a60; color: #a60;
  border-radius: 3px; font-size: 11px; white-space: nowrap; }
.vkd .vkd-strip { font-family: monospace; letter-spacing: 1px; white-space: nowrap; }
.vkd .vkd-h { display: inline-block; width: 1.2em; text-align: center; }
.vkd .vkd-h-pass { color: #393; }
.vkd .vkd-h-fail, .vkd .vkd-h-missing { color: #fff; background: #d9534f; }
.vkd .vkd-h-xfail { color: #888; }
.vkd .vkd-h-xpass { color: #fff; background: #e67300; }
.vkd .vkd-h-none { color: #ccc; }
.vkd .vkd-h-flaky { color: #fff; background: #f0ad4e; }
</style>"""
