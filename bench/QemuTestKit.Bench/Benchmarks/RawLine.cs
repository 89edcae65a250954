using QemuTestKit.Machines.Runtime;
using QemuTestKit.Machines.Specs;

namespace QemuTestKit.Bench.Benchmarks;

/// <summary>
/// The raw baseline of a guest with disks or NICs: the argument array of one start from the ready state, taken once,
/// then run by hand per sample: copies of the state image and disk overlays in a private directory, the serial port on
/// stdio, no QMP. What is left between it and a start through the library is the library's own cost.
/// </summary>
internal sealed record RawLine(IReadOnlyList<string> Arguments, string RunDirectory, string StateImageName, IReadOnlyList<string> OverlayNames)
{
    public static async Task<RawLine> CaptureAsync(ReadyState ready, MachineSpec spec, MachineStartOptions start, CancellationToken ct)
    {
        var machine = await ready.StartAsync(spec, start, ct).ConfigureAwait(false);
        await using (machine.ConfigureAwait(false))
        {
            return new RawLine(machine.Arguments, machine.RunDirectoryPath, Path.GetFileName(machine.Files.StateImage),
                machine.Files.DiskImages.Select(Path.GetFileName).ToArray()!);
        }
    }

    public async Task<IAsyncDisposable> StartAsync(string binary, ReadyState ready, string root, TimeSpan limit, CancellationToken ct)
    {
        var dir = Directory.CreateDirectory(Path.Combine(root, $"raw-{Guid.NewGuid():N}")).FullName;
        File.Copy(ready.StateImage, Path.Combine(dir, StateImageName));
        for (var i = 0; i < OverlayNames.Count && i < ready.DiskOverlays.Count; i++)
        {
            File.Copy(ready.DiskOverlays[i], Path.Combine(dir, OverlayNames[i]));
        }

        var arguments = new List<string>();
        for (var i = 0; i < Arguments.Count; i++)
        {
            var argument = Arguments[i];
            if (argument is "-qmp" || (argument is "-chardev" && Arguments[i + 1].StartsWith("pipe,id=serial", StringComparison.Ordinal)))
            {
                i++;
                continue;
            }

            if (argument is "-serial")
            {
                arguments.AddRange(["-serial", "stdio"]);
                i++;
                continue;
            }

            arguments.Add(argument.Replace(RunDirectory, dir, StringComparison.Ordinal));
        }

        return await SnapshotStartBenchmark.RunRawAsync(binary, arguments, limit, () => Directory.Delete(dir, recursive: true), ct).ConfigureAwait(false);
    }
}
