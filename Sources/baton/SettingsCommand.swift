import ArgumentParser
import BatonHost

struct SettingsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "settings",
        abstract: "List every numeric setting: its name for --set and the config file, unit, default, range and help."
    )

    @Flag(help: "Print the table as Markdown, as the README has it.")
    var markdown = false

    func run() {
        if markdown { return print(Setting.markdownTable, terminator: "") }
        var table = TextTable("SETTING", "UNIT", "DEFAULT", "RANGE", "HELP")
        for setting in Setting.all {
            table.add(
                setting.name,
                setting.unit.rawValue,
                "\(setting.defaultValue)",
                "\(setting.range.lowerBound)...\(setting.range.upperBound)",
                setting.help
            )
        }
        print(table.text)
    }
}
