using System.Diagnostics;
using System.Text;
using QemuTestKit.Machines.Console;

namespace QemuTestKit.Machines.Tests.Console;

/// <summary>The typed text, checked with the host's /bin/sh (dash on Debian): what the guest shell would store.</summary>
public sealed class ShellScriptTests
{
    public static TheoryData<string> Commands => new()
    {
        "",
        "echo hello",
        "it's a 'quoted' \"string\" with $HOME and `backticks` and \\ backslashes",
        "tab\there and\ttwice",
        "line one\nline two\n",
        "crlf\r\nline",
        "caf\u00e9 \u20ac \U0001F600",
        "bell\u0007 escape\u001b[1m del\u007f",
        string.Concat(Enumerable.Range(0, 400).Select(i => $"x'{i}\t")),
        new string('a', 5000),
    };

    [Theory]
    [MemberData(nameof(Commands))]
    public async Task The_variable_holds_the_command_exactly(string command)
    {
        var script = ShellScript.Exec(command, "0123456789abcdef");
        var assignments = script[..script.LastIndexOf("printf '%s%s", StringComparison.Ordinal)].TrimEnd(' ', ';', '\n');

        var stored = await RunHostShellAsync($"{assignments}\nprintf '%s' \"$QTK_C\"\n");

        stored.Should().Be(command.Replace("\r\n", "\n", StringComparison.Ordinal));
    }

    [Theory]
    [MemberData(nameof(Commands))]
    public void Every_typed_line_is_printable_ASCII_and_short(string command)
    {
        var script = ShellScript.Exec(command, "0123456789abcdef");

        foreach (var line in script.Split('\n'))
        {
            Encoding.UTF8.GetByteCount(line).Should().BeLessThan(800);
            line.Should().MatchRegex("^[ -~]*$");
        }
    }

    [Fact]
    public void The_typed_text_never_contains_the_markers_literally()
    {
        var script = ShellScript.Exec("echo QTK-B; echo QTK-E", "0123456789abcdef");

        script.Should().NotContain("QTK-B0123456789abcdef").And.NotContain("QTK-E0123456789abcdef");
        ShellScript.Sync("0123456789abcdef").Should().NotContain("QTK-S0123456789abcdef");
    }

    [Fact]
    public async Task The_framing_prints_markers_and_the_exit_status()
    {
        var output = await RunHostShellAsync(ShellScript.Exec("echo out; sh -c 'exit 7'", "id1"));

        output.Should().Be("QTK-Bid1\nout\n\nQTK-Eid1:7\n");
    }

    [Fact]
    public void Kernel_messages_are_cut_out_even_in_the_middle_of_a_line()
    {
        var cleaner = new ConsoleLineCleaner(ShellSession.DefaultKernelMessageFilter);
        var clean = new StringBuilder();

        foreach (var piece in new[] { "12", "3[   12.345678] random: crng init done\r\n", "4\r\n", "[    1.000000] x\r\n5\r", "\n6" })
        {
            clean.Append(cleaner.Feed(piece));
        }

        clean.ToString().Should().Be("1234\n5\n");
    }

    [Fact]
    public void Escape_sequences_and_carriage_returns_are_removed()
    {
        ConsoleText.Sanitize("a\u001b[6nb\u001b]0;title\u0007c\r\n\u001b[1;32md\u001b[0m\u001bMe\tf")
            .Should().Be("abc\nde\tf");
    }

    private static async Task<string> RunHostShellAsync(string script)
    {
        var psi = new ProcessStartInfo("/bin/sh")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
            StandardOutputEncoding = new UTF8Encoding(false),
            StandardInputEncoding = new UTF8Encoding(false),
        };
        using var process = Process.Start(psi)!;
        await process.StandardInput.WriteAsync(script);
        process.StandardInput.Close();
        var output = await process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        await process.WaitForExitAsync(TestContext.Current.CancellationToken);
        return output;
    }
}
