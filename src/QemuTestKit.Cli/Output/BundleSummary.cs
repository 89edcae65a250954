using System.Globalization;
using System.Text;
using QemuTestKit.Introspection.Images;
using QemuTestKit.Machines.Bundles;

namespace QemuTestKit.Cli.Output;

/// <summary>The human forms of <c>bundle info</c> and <c>bundle verify</c>.</summary>
internal static class BundleSummary
{
    private const string Indent = "             ";

    public static async Task<string> FormatAsync(ReplayBundle bundle, CancellationToken cancellationToken)
    {
        // Read before the lines: a packed state image is restored (once, into the cache) to read its snapshot table.
        var stateImageParts = await StateImagePartsAsync(bundle, cancellationToken).ConfigureAwait(false);
        var m = bundle.Manifest;
        var text = new StringBuilder();
        void Line(string line) => text.Append(line).Append('\n');
        var inv = CultureInfo.InvariantCulture;

        Line(string.Create(inv, $"bundle:      {bundle.Source} (schema {m.SchemaVersion}, created {Time(m.CreatedAt)})"));
        if (m.Test is { } test)
        {
            Line($"test:        {test.Name}{(test.Outcome is null ? string.Empty : $" ({test.Outcome})")}");
            if (!string.IsNullOrEmpty(test.FailureMessage))
            {
                var lines = test.FailureMessage.Replace("\r", string.Empty, StringComparison.Ordinal).Split('\n');
                Line($"failure:     {lines[0]}");
                foreach (var more in lines.Skip(1))
                {
                    Line(Indent + more);
                }
            }
        }
        else
        {
            Line("test:        (not recorded by a test)");
        }

        var q = m.Qemu;
        var package = string.IsNullOrEmpty(q.Package) ? string.Empty : $" ({q.Package})";
        var container = q.ContainerImage is null ? string.Empty : $", container {q.ContainerImage}";
        Line($"qemu:        {q.Version}{package}, {q.Binary}, sha256 {Short(q.Sha256)}{container}");
        var s = m.Spec;
        Line(string.Create(inv, $"machine:     {s.Name}, {s.MachineType}, {s.MemoryMiB} MiB ({s.Architecture ?? "architecture not recorded"}, {s.Accelerator.ToString().ToLowerInvariant()}, icount shift {m.IcountShift})"));
        Line(m.StartSnapshot is null ? "start:       power-on (no start snapshot)" : $"start:       snapshot '{m.StartSnapshot}'");

        Line(string.Create(inv, $"checkpoints: {m.Checkpoints.Count}"));
        var nameWidth = m.Checkpoints.Select(c => c.Name.Length).DefaultIfEmpty(0).Max();
        var icountWidth = m.Checkpoints.Select(c => c.Icount.ToString(inv).Length).DefaultIfEmpty(0).Max();
        foreach (var c in m.Checkpoints)
        {
            Line(string.Create(inv, $"  {c.Name.PadRight(nameWidth)}  icount {c.Icount.ToString(inv).PadLeft(icountWidth)}  transcript offset {c.TranscriptOffset}"));
        }

        var chunks = m.Transcript.ChunksFile is null ? string.Empty : $", chunks in {m.Transcript.ChunksFile}";
        Line(string.Create(inv, $"transcript:  {m.Transcript.File}, {m.Transcript.Length} bytes, sha256 {Short(m.Transcript.Sha256)}{chunks}"));
        var t = m.Timings;
        var span = t.StartedAt is null ? string.Empty : $", {Time(t.StartedAt.Value)} to {(t.EndedAt is null ? "?" : Time(t.EndedAt.Value))}";
        Line(string.Create(inv, $"timings:     recorded for {t.RecordSeconds:0.00} s{span}"));

        Line(string.Create(inv, $"files:       {m.Files.Count}, {Size(m.Files.Sum(f => f.Size))}"));
        var pathWidth = m.Files.Select(f => f.Path.Length).DefaultIfEmpty(0).Max();
        var roleWidth = m.Files.Select(f => f.Role.Length).DefaultIfEmpty(0).Max();
        var sizeWidth = m.Files.Select(f => Size(f.Size).Length).DefaultIfEmpty(0).Max();
        foreach (var f in m.Files)
        {
            Line($"  {f.Path.PadRight(pathWidth)}  {f.Role.PadRight(roleWidth)}  {Size(f.Size).PadLeft(sizeWidth)}");
        }

        if (stateImageParts is { } parts)
        {
            Line(parts);
        }

        Line(string.Create(inv, $"external:    {m.ExternalFiles.Count}"));
        foreach (var e in m.ExternalFiles)
        {
            var found = bundle.Resolve(e) is { } at ? (at == e.OriginalPath ? "present" : $"found at {at}") : "not on this machine";
            Line($"  {e.OriginalPath}  {e.Role}  {Size(e.Size)}  sha256 {Short(e.Sha256)}  ({found})");
        }

        return text.ToString();
    }

    /// <summary>
    /// What the state image holds, part by part: each snapshot's machine state (the start snapshot, each checkpoint) as
    /// its qcow2 snapshot table says, and the rest (the image's clusters and tables). Null when the bundle has none.
    /// </summary>
    private static async Task<string?> StateImagePartsAsync(ReplayBundle bundle, CancellationToken cancellationToken)
    {
        if (bundle.Manifest.Files.FirstOrDefault(f => f.Role == BundleRoles.StateImage) is not { } file)
        {
            return null;
        }

        IReadOnlyList<ImageSnapshot> snapshots;
        long imageSize;
        string image;
        try
        {
            image = (await bundle.StateImageAsync(cancellationToken).ConfigureAwait(false))!;
            imageSize = new FileInfo(image).Length;
            snapshots = Qcow2SnapshotTable.Read(image);
        }
        catch (Exception e) when (e is QemuImageException or ReplayBundleException)
        {
            return $"state image: {file.Path}: cannot list its parts: {e.Message}";
        }

        var checkpoints = bundle.Manifest.Checkpoints.Select(c => c.Name).ToHashSet(StringComparer.Ordinal);
        var parts = snapshots.Select(s => (s.Name == bundle.Manifest.StartSnapshot ? "start" : checkpoints.Contains(s.Name) ? "checkpoint" : "snapshot")
            + $" '{s.Name}' {Size(s.VmStateSize)}").ToList();
        parts.Add("the rest " + Size(Math.Max(0, imageSize - snapshots.Sum(s => s.VmStateSize))));
        // A packed state image is read where it was restored to, not in the bundle.
        var packed = image == bundle.PathOf(file.Path) ? string.Empty : $" (packed; the image is {Size(imageSize)})";
        return $"state image: {file.Path}, {Size(file.Size)}{packed}: {string.Join(", ", parts)}";
    }

    /// <summary>The last line of <c>bundle verify</c>.</summary>
    public static string Verdict(BundleVerification verification)
    {
        var inv = CultureInfo.InvariantCulture;
        if (verification.IsIntact)
        {
            var files = verification.Files.Count == 1 ? "file" : "files";
            return string.Create(inv, $"bundle: intact ({verification.Files.Count} {files}, {Size(verification.BundleBytes)})");
        }

        var count = verification.Problems.Count;
        return string.Create(inv, $"bundle: damaged ({count} {(count == 1 ? "problem" : "problems")})");
    }

    /// <summary>Bytes, in the largest binary unit that keeps a number of at least 1.</summary>
    public static string Size(long bytes)
    {
        var inv = CultureInfo.InvariantCulture;
        if (bytes < 1024)
        {
            return string.Create(inv, $"{bytes} {(bytes == 1 ? "byte" : "bytes")}");
        }

        string[] units = ["KiB", "MiB", "GiB", "TiB"];
        double value = bytes;
        var unit = -1;
        while (value >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }

        return string.Create(inv, $"{value:0.0} {units[unit]}");
    }

    private static string Short(string sha256) => sha256.Length > 16 ? sha256[..16] + "..." : sha256;

    private static string Time(DateTimeOffset time) => time.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture);
}
