from fcdmbench.cli.main import run

run()
