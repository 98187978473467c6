from labkit.controllers.manager import main

main()
