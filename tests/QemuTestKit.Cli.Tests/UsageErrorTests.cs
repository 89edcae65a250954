using QemuTestKit.Cli.Tests.Support;

namespace QemuTestKit.Cli.Tests;

/// <summary>
/// A command line the CLI cannot use is a usage error on every command: exit 2, one line naming the wrong word, and
/// nothing started (an unknown option must not be taken for a bundle path or a project).
/// </summary>
public sealed class UsageErrorTests : IDisposable
{
    private const int Usage = 2;
    private static readonly TimeSpan Expected = TimeSpan.FromSeconds(20);
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private Task<CliResult> RunAsync(params string[] args) =>
        CliRunner.RunAsync(args, _temp.File("cache"), TimeSpan.FromSeconds(60), cancellationToken: TestContext.Current.CancellationToken);

    [Theory]
    [InlineData("replay --bogus", "'--bogus' for 'qemutestkit replay'")]
    [InlineData("replay some.qtkreplay --bogus", "'--bogus' for 'qemutestkit replay'")]
    [InlineData("bundle verify --bogus", "'--bogus' for 'qemutestkit bundle verify'")]
    [InlineData("bundle info --bogus", "'--bogus' for 'qemutestkit bundle info'")]
    [InlineData("run --bogus", "'--bogus' for 'qemutestkit run'")]
    [InlineData("introspect --qemu --bogus", "'--bogus' for 'qemutestkit introspect'")]
    [InlineData("hunt --project --bogus --filter x", "'--bogus' for 'qemutestkit hunt'")]
    [InlineData("hunt --bogus", "'--bogus' for 'qemutestkit hunt'")]
    public async Task An_unknown_option_is_a_usage_error_naming_it(string commandLine, string named)
    {
        var result = await RunAsync(commandLine.Split(' '));

        var message = result.ShouldFailCleanly(Usage, Expected);
        message.Should().StartWith("qemutestkit: unknown option ").And.Contain(named);
        result.Stdout.Should().BeEmpty();
        Directory.Exists(_temp.File("cache")).Should().BeFalse("a usage error starts no work");
    }

    [Theory]
    [InlineData("replay some.qtkreplay --timeout 0", "--timeout")]
    [InlineData("replay some.qtkreplay --timeout abc", "--timeout")]
    [InlineData("hunt --project p.csproj --filter x --runs 0", "--runs")]
    [InlineData("hunt --project p.csproj --filter x --parallel -1", "--parallel")]
    [InlineData("hunt --project p.csproj --filter x --run-timeout soon", "--run-timeout")]
    public async Task A_number_that_is_not_a_positive_whole_number_is_a_usage_error(string commandLine, string option)
    {
        var result = await RunAsync(commandLine.Split(' '));

        var message = result.ShouldFailCleanly(Usage, Expected);
        message.Should().StartWith($"qemutestkit: {option} must be a whole number");
    }

    [Theory]
    [InlineData("bogus", "unknown command 'bogus' for 'qemutestkit'")]
    [InlineData("bundle bogus x", "unknown command 'bogus' for 'qemutestkit bundle'")]
    [InlineData("replay a.qtkreplay b.qtkreplay", "unexpected argument 'b.qtkreplay' for 'qemutestkit replay'")]
    public async Task An_unknown_word_is_the_one_error_shown(string commandLine, string expected)
    {
        var result = await RunAsync(commandLine.Split(' '));

        result.ShouldFailCleanly(Usage, Expected).Should().Be($"qemutestkit: {expected}");
    }

    [Fact]
    public async Task After_a_double_dash_a_word_that_starts_with_a_dash_is_a_path()
    {
        var result = await RunAsync("bundle", "verify", "--", "-no-such.qtkreplay");

        // Not a usage error: the path was looked for, and is missing.
        result.ShouldFailCleanly(1, Expected).Should().Contain("-no-such.qtkreplay").And.Contain("not found");
    }
}
