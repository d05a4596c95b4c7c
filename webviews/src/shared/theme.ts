/**
 * Chart colours from the VS Code theme. VS Code puts `--vscode-*` variables on <html> and switches the
 * body class (vscode-light / vscode-dark / vscode-high-contrast) when the theme changes; charts draw on
 * SVG with concrete colours, so they read the variables and redraw on change.
 */
export interface ChartTheme {
  foreground: string;
  muted: string;
  grid: string;
  kept: string;
  pruned: string;
  cut: string;
  series: string[];
  font: string;
}

const css = (name: string, fallback: string): string =>
  getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;

export function chartTheme(): ChartTheme {
  return {
    foreground: css('--vscode-charts-foreground', css('--vscode-foreground', '#cccccc')),
    muted: css('--vscode-descriptionForeground', '#9d9d9d'),
    grid: css('--vscode-charts-lines', 'rgba(128, 128, 128, 0.35)'),
    kept: css('--vscode-charts-blue', '#3794ff'),
    pruned: css('--vscode-disabledForeground', '#6f6f6f'),
    cut: css('--vscode-charts-red', '#f14c4c'),
    series: [
      css('--vscode-charts-blue', '#3794ff'),
      css('--vscode-charts-orange', '#d18616'),
      css('--vscode-charts-green', '#89d185'),
      css('--vscode-charts-purple', '#b180d7'),
      css('--vscode-charts-yellow', '#cca700'),
    ],
    font: css('--vscode-font-family', 'system-ui, sans-serif'),
  };
}

export function onThemeChange(redraw: () => void): void {
  const obs = new MutationObserver(() => redraw());
  obs.observe(document.body, { attributes: true, attributeFilter: ['class'] });
  obs.observe(document.documentElement, { attributes: true, attributeFilter: ['style', 'class'] });
}
