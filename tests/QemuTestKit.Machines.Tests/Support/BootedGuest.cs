using System.Diagnostics;
using System.Text.RegularExpressions;
using QemuTestKit.Introspection.Processes;
using QemuTestKit.Machines.Console;
using QemuTestKit.Machines.Runtime;

namespace QemuTestKit.Machines.Tests.Support;

/// <summary>
/// The test guest booted cold with real QEMU from a hand-written argument array (no command-line builder), its
/// serial port on a <see cref="SerialConsole"/> the host listens on. Disposal kills QEMU and removes the run directory.
/// </summary>
internal sealed class BootedGuest : IAsyncDisposable
{
    public static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(120);
    private static readonly TimeSpan s_connectTimeout = TimeSpan.FromSeconds(60);

    private BootedGuest(RunDirectory run, SerialConsole console, QemuProcess process, TimeSpan bootTime)
    {
        Run = run;
        Console = console;
        Process = process;
        BootTime = bootTime;
        Shell = new ShellSession(console);
    }

    public RunDirectory Run { get; }

    public SerialConsole Console { get; }

    public QemuProcess Process { get; }

    public ShellSession Shell { get; }

    /// <summary>From starting QEMU to the ready line.</summary>
    public TimeSpan BootTime { get; }

    /// <summary>The argument array for the test guest with its serial port connecting to <paramref name="serialSocket"/>.</summary>
    public static IReadOnlyList<string> Arguments(TestGuest guest, string serialSocket) =>
    [
        "-machine", "q35", "-accel", "tcg", "-m", "256",
        "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
        "-chardev", $"socket,id=serial0,path={serialSocket},server=off",
        "-serial", "chardev:serial0",
        "-kernel", guest.Kernel, "-initrd", guest.Initrd, "-append", guest.Append,
    ];

    /// <summary>Boots the guest and (unless told otherwise) waits for its ready line.</summary>
    public static async Task<BootedGuest> BootAsync(CancellationToken cancellationToken, bool waitForReady = true)
    {
        var guest = TestGuest.Load();
        var run = RunDirectory.Create("guest");
        SerialConsole? console = null;
        QemuProcess? process = null;
        try
        {
            console = SerialConsole.Listen(run.SerialSocket(0));
            var stopwatch = Stopwatch.StartNew();
            process = QemuProcess.Start(new QemuProcessStartInfo(TestQemu.Binary, Arguments(guest, run.SerialSocket(0)))
            {
                WorkingDirectory = run.Path,
                StderrLogPath = run.StderrLog,
            });
            run.WritePid(process.Id);

            var accept = console.AcceptAsync(s_connectTimeout, cancellationToken);
            var exited = process.WaitForExitAsync(Timeout.InfiniteTimeSpan, cancellationToken);
            if (await Task.WhenAny(accept, exited) == exited && !accept.IsCompleted)
            {
                throw new InvalidOperationException($"QEMU exited with code {process.ExitCode} before connecting to the serial socket:\n{process.StderrTail}");
            }

            await accept;
            if (waitForReady)
            {
                await console.WaitForAsync(new Regex(Regex.Escape(guest.ReadyPattern), RegexOptions.CultureInvariant), ReadyTimeout, cancellationToken);
            }

            return new BootedGuest(run, console, process, stopwatch.Elapsed);
        }
        catch
        {
            if (process is not null)
            {
                await process.DisposeAsync();
            }

            if (console is not null)
            {
                await console.DisposeAsync();
            }

            run.Dispose();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await Process.DisposeAsync();
        }
        finally
        {
            await Console.DisposeAsync();
            Shell.Dispose();
            Run.Dispose();
        }
    }
}

/// <summary>One booted guest shared by the tests of a class (booting takes 5 to 30 s).</summary>
public sealed class BootedGuestFixture : IAsyncLifetime
{
    private BootedGuest? _guest;

    internal BootedGuest Guest => _guest ?? throw new InvalidOperationException("the guest did not boot");

    public async ValueTask InitializeAsync() => _guest = await BootedGuest.BootAsync(TestContext.Current.CancellationToken);

    public async ValueTask DisposeAsync()
    {
        if (_guest is not null)
        {
            await _guest.DisposeAsync();
        }
    }
}
