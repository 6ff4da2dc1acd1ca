"""PNG plots for people: training curves, forecasts against what happened, errors by horizon step, state heatmaps.
matplotlib loads only when a plot is made; every plot is written by base.save (texts as written, a Software stamp)."""

from lstmcast.outputs.plots.base import SOFTWARE, check_png_path, is_plot
from lstmcast.outputs.plots.forecasts import forecast_vs_actual, forecast_with_history
from lstmcast.outputs.plots.scores import error_by_step, loss_curves, pit_histograms, series_skill
from lstmcast.outputs.plots.states import states_overview, write_states_plot

__all__ = ["SOFTWARE", "check_png_path", "error_by_step", "forecast_vs_actual", "forecast_with_history", "is_plot", "loss_curves",
           "pit_histograms", "series_skill", "states_overview", "write_states_plot"]
