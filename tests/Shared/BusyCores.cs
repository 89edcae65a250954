using System.Diagnostics;

namespace QemuTestKit.Fixtures.Tests.Scenarios;

/// <summary>
/// One spinning shell per core, for as long as it is not disposed: the load users' CI machines run tests under, where
/// a replay runs slower than its recording did. Each dies with this process (parent-death signal) if it is killed.
/// </summary>
public sealed class BusyCores : IDisposable
{
    private readonly List<Process> _spinners = [];

    public BusyCores()
    {
        for (var i = 0; i < Environment.ProcessorCount; i++)
        {
            var start = new ProcessStartInfo("setpriv") { UseShellExecute = false };
            foreach (var argument in (string[])["--pdeathsig", "KILL", "--", "sh", "-c", "while :; do :; done"])
            {
                start.ArgumentList.Add(argument);
            }

            _spinners.Add(Process.Start(start) ?? throw new InvalidOperationException("could not start a busy loop (setpriv, from util-linux)"));
        }
    }

    public void Dispose()
    {
        foreach (var spinner in _spinners)
        {
            spinner.Kill();
            spinner.WaitForExit(TimeSpan.FromSeconds(10));
            spinner.Dispose();
        }
    }
}
