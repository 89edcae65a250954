using System.Diagnostics;
using System.Text;

namespace QemuTestKit.Machines.Runtime;

/// <summary>Where a boot stands while <see cref="ReadyState.PrepareAsync"/> waits for the ready pattern.</summary>
/// <param name="Machine">The machine's name.</param>
/// <param name="Elapsed">Since QEMU was started.</param>
/// <param name="LastConsoleLine">The last non-empty line the guest printed (control characters removed), or empty.</param>
public sealed record BootProgress(string Machine, TimeSpan Elapsed, string LastConsoleLine)
{
    private const int MaxLineLength = 160;

    /// <summary>
    /// Runs <paramref name="waitForReady"/> and reports every <paramref name="interval"/> until it ends: a boot under
    /// TCG can take minutes, and a build that prints nothing for that long looks hung.
    /// </summary>
    internal static async Task WhileAsync(QemuMachine machine, Stopwatch clock, Action<BootProgress>? report, TimeSpan interval,
        Func<Task> waitForReady, CancellationToken cancellationToken)
    {
        if (report is null)
        {
            await waitForReady().ConfigureAwait(false);
            return;
        }

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var ticks = TickAsync(machine, clock, report, interval, stop.Token);
        try
        {
            await waitForReady().ConfigureAwait(false);
        }
        finally
        {
            await stop.CancelAsync().ConfigureAwait(false);
            await ticks.ConfigureAwait(false);
        }
    }

    private static async Task TickAsync(QemuMachine machine, Stopwatch clock, Action<BootProgress> report, TimeSpan interval, CancellationToken ct)
    {
        using var timer = new PeriodicTimer(interval);
        try
        {
            while (await timer.WaitForNextTickAsync(ct).ConfigureAwait(false))
            {
                report(new BootProgress(machine.Spec.Name, clock.Elapsed, LastLine(machine.Console.Tail(5))));
            }
        }
        catch (OperationCanceledException)
        {
            // The boot ended (or was cancelled): no more reports.
        }
    }

    internal static string LastLine(string tail)
    {
        var line = tail.Split('\n').Select(Printable).LastOrDefault(l => l.Length > 0) ?? string.Empty;
        return line.Length > MaxLineLength ? line[..MaxLineLength] + "..." : line;
    }

    private static string Printable(string line)
    {
        var text = new StringBuilder(line.Length);
        for (var i = 0; i < line.Length; i++)
        {
            // ANSI escape sequences (colours, cursor moves) end at their first letter.
            if (line[i] == '\e')
            {
                while (i + 1 < line.Length && !char.IsAsciiLetter(line[i + 1]))
                {
                    i++;
                }

                i++;
                continue;
            }

            if (!char.IsControl(line[i]))
            {
                text.Append(line[i]);
            }
        }

        return text.ToString().Trim();
    }
}
