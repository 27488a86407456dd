import Server
ServerMain.run(CommandLine.arguments)
