using QemuTestKit.Machines.Bundles;
using QemuTestKit.Machines.CommandLine;
using QemuTestKit.Machines.Runtime;
using QemuTestKit.Machines.Tests.Runtime;

namespace QemuTestKit.Machines.Tests.Recording;

/// <summary>
/// One recorded session of the test guest, kept as a bundle: commands typed over the serial console print values
/// read from /dev/urandom (different on every real run), with a checkpoint between them.
/// </summary>
public sealed class RecordedSessionFixture : IAsyncLifetime
{
    private readonly ReadyGuestFixture _ready = new(icountShift: 5);

    public string BundlePath { get; private set; } = null!;

    public IReadOnlyList<string> RecordedOutputs { get; private set; } = [];

    public Checkpoint Checkpoint { get; private set; } = null!;

    public ReadyGuestFixture Ready => _ready;

    public string Root { get; } = Directory.CreateTempSubdirectory("qtk-recorded-").FullName;

    public async ValueTask InitializeAsync()
    {
        var ct = TestContext.Current.CancellationToken;
        await _ready.InitializeAsync();
        await using var machine = await _ready.Ready.StartAsync(_ready.Spec, _ready.Options with { Mode = RunMode.Record }, ct);
        var outputs = new List<string>();
        const string Random = "echo val-$(head -c8 /dev/urandom | od -An -tx1 | tr -d ' \\n')";
        outputs.Add((await machine.ExecAsync(Random, TimeSpan.FromSeconds(120), ct)).Output);
        outputs.Add((await machine.ExecAsync(Random, TimeSpan.FromSeconds(120), ct)).Output);
        Checkpoint = await machine.CheckpointAsync("after-two", ct);
        outputs.Add((await machine.ExecAsync(Random + "; uname -r", TimeSpan.FromSeconds(120), ct)).Output);
        outputs.Add((await machine.ExecAsync("cat /proc/uptime", TimeSpan.FromSeconds(120), ct)).Output);
        RecordedOutputs = outputs;
        BundlePath = await machine.KeepAsBundleAsync(Path.Combine(Root, "session"), new BundleTest("RecordedSessionFixture"), ct);
    }

    /// <summary>
    /// Records a run of its own from the ready state, lets <paramref name="during"/> work on the live machine, and keeps
    /// the run as the bundle <paramref name="name"/> under <see cref="Root"/>.
    /// </summary>
    public async Task<string> RecordAndKeepAsync(string name, Func<QemuMachine, CancellationToken, Task> during, CancellationToken ct)
    {
        await using var machine = await _ready.Ready.StartAsync(_ready.Spec, _ready.Options with { Mode = RunMode.Record }, ct);
        await during(machine, ct);
        return await machine.KeepAsBundleAsync(Path.Combine(Root, name), new BundleTest(name), ct);
    }

    public async ValueTask DisposeAsync()
    {
        await _ready.DisposeAsync();
        // QTK_KEEP_RECORDINGS=DIR keeps the recordings for a look at a replay that failed (a stall is rare and not
        // reproducible on demand; its bundle is what explains it).
        if (Environment.GetEnvironmentVariable("QTK_KEEP_RECORDINGS") is { Length: > 0 } keep)
        {
            Directory.CreateDirectory(keep);
            Directory.Move(Root, Path.Combine(keep, Path.GetFileName(Root)));
        }
        else
        {
            Directory.Delete(Root, recursive: true);
        }
    }
}
