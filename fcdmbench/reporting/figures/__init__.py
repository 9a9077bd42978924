"""The report's figures: one module per figure (`fid_plots`, `fig6_plot`, `throughput_plot`,
`roofline_plot`, `audit_plot`), the figure set a report writes (`plots`), and what they share:
the house style and deterministic saving (`plot_style`), the points read from records
(`plot_points`) and their labels (`plot_labels`).

Import from the modules; this `__init__` re-exports nothing.
"""
