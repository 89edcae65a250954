namespace QemuTestKit.Cli.Tests.Support;

internal static class CliAssertions
{
    public const string Qemu = "qemu-system-x86_64";

    /// <summary>A failure the user caused: non-zero exit, one <c>qemutestkit:</c> line naming the problem, no stack trace.</summary>
    public static string ShouldFailCleanly(this CliResult result, int exitCode, TimeSpan within)
    {
        result.TimedOut.Should().BeFalse($"the CLI must give up by itself, not be killed by the test\n{result}");
        result.Elapsed.Should().BeLessThan(within, result.ToString());
        result.ExitCode.Should().Be(exitCode, result.ToString());
        result.Stderr.Should().NotContain("   at ", $"no stack trace\n{result}")
            .And.NotContain("Exception", $"no exception names\n{result}")
            .And.NotContain("Unhandled", result.ToString());

        var lines = result.StderrLines;
        var messages = lines.Where(l => l.StartsWith("qemutestkit:", StringComparison.Ordinal)).ToArray();
        messages.Should().ContainSingle($"exactly one qemutestkit: line\n{result}");
        lines[0].Should().StartWith("qemutestkit:", result.ToString());

        // Besides the message, only the pointer to --help may follow.
        lines.Skip(1).Where(l => !l.Contains("--help", StringComparison.Ordinal)).Should().BeEmpty(result.ToString());
        return messages[0];
    }
}
