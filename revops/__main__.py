from revops.cli import main

main()
