using QemuTestKit.Fixtures.Testing;

namespace QemuTestKit.Fixtures.Tests;

public sealed class SettingsTests
{
    [Fact]
    public void Without_variables_runs_are_recorded_and_failures_kept_with_one_machine_per_core()
    {
        var settings = FixtureSettings.FromEnvironment(_ => null);

        settings.Record.Should().BeTrue();
        settings.Keep.Should().Be(KeepPolicy.Failed);
        settings.MaxMachines.Should().Be(Environment.ProcessorCount);
        settings.Replay.Should().BeNull();
    }

    [Fact]
    public void Variables_set_each_choice()
    {
        var variables = new Dictionary<string, string>
        {
            ["QEMUTESTKIT_RECORD"] = "false",
            ["QEMUTESTKIT_KEEP"] = "All",
            ["QEMUTESTKIT_MAX_MACHINES"] = "3",
            ["QEMUTESTKIT_ICOUNT_SHIFT"] = "6",
            ["QEMUTESTKIT_CHECKPOINT_INTERVAL"] = "2.5",
            ["QEMUTESTKIT_REPLAY"] = "/b.qtkreplay",
            ["QEMUTESTKIT_REPLAY_FROM"] = "cp",
        };

        var settings = FixtureSettings.FromEnvironment(name => variables.GetValueOrDefault(name));

        settings.Should().BeEquivalentTo(new FixtureSettings
        {
            Record = false,
            Keep = KeepPolicy.All,
            MaxMachines = 3,
            IcountShift = 6,
            CheckpointInterval = TimeSpan.FromSeconds(2.5),
            Replay = "/b.qtkreplay",
            ReplayFrom = "cp",
        });
    }

    [Theory]
    [InlineData("QEMUTESTKIT_RECORD", "maybe", "QEMUTESTKIT_RECORD='maybe' is not valid: expected true or false")]
    [InlineData("QEMUTESTKIT_KEEP", "some", "QEMUTESTKIT_KEEP='some' is not valid: expected failed, all or none")]
    [InlineData("QEMUTESTKIT_MAX_MACHINES", "0", "QEMUTESTKIT_MAX_MACHINES='0' is not valid: expected a whole number of at least 1")]
    [InlineData("QEMUTESTKIT_ICOUNT_SHIFT", "-1", "QEMUTESTKIT_ICOUNT_SHIFT='-1' is not valid: expected a shift from 0 to 10")]
    [InlineData("QEMUTESTKIT_CHECKPOINT_INTERVAL", "soon", "QEMUTESTKIT_CHECKPOINT_INTERVAL='soon' is not valid: expected a number of seconds greater than 0")]
    public void A_bad_value_names_the_variable_and_what_it_takes(string name, string value, string message)
    {
        var act = () => FixtureSettings.FromEnvironment(n => n == name ? value : null);

        act.Should().Throw<FixtureException>().WithMessage(message);
    }

    [Theory]
    [InlineData(new[] { "app", "--results-directory", "/r" }, "/r")]
    [InlineData(new[] { "app", "--results-directory=/r2", "--report-trx" }, "/r2")]
    public void The_results_directory_is_the_test_platforms(string[] commandLine, string expected)
    {
        ResultsDirectory.Find(commandLine, _ => "/elsewhere").Should().Be(expected);
    }

    [Fact]
    public void Under_dotnet_test_without_one_it_is_TestResults_where_dotnet_test_ran()
    {
        ResultsDirectory.Find(["app"], n => n == "DOTNET_CLI_TEST_COMMAND_WORKING_DIRECTORY" ? "/src/MyTests" : null)
            .Should().Be("/src/MyTests/TestResults");
    }

    [Fact]
    public void A_test_application_run_directly_uses_TestResults_next_to_it()
    {
        ResultsDirectory.Find(["app"], _ => null).Should().Be(Path.Combine(AppContext.BaseDirectory, "TestResults"));
    }
}
