/* The ECharts of the dashboard (layers/templates/dashboard.html): only the charts and
 * components dashboard.js draws, bundled by scripts/build_assets.mjs from the npm package
 * into layers/static/build/ (tree-shaken, minified, precompressed). Exposes window.echarts. */
import * as echarts from "echarts/core";
import { BarChart, HeatmapChart, LineChart, PieChart } from "echarts/charts";
import {
  GridComponent, LegendComponent, TooltipComponent, VisualMapContinuousComponent,
} from "echarts/components";
import { CanvasRenderer } from "echarts/renderers";

echarts.use([BarChart, HeatmapChart, LineChart, PieChart, GridComponent, LegendComponent,
  TooltipComponent, VisualMapContinuousComponent, CanvasRenderer]);
window.echarts = echarts;
