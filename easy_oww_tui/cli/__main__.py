from easy_oww_tui.cli import main

main()
