using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Machines.Specs;
using QemuTestKit.Machines.Validation;

namespace QemuTestKit.Containers;

/// <summary>
/// A machine is checked against the QEMU of the image it runs in, not the host's: another build (QEMU 10 next to the
/// host's 7.2) has other machine types, devices, properties and replay limits. The build checks it against the image's
/// catalog once a run has read it (<c>CatalogCache.TryGetImageCatalogAsync</c>); this check is the one that always holds, before any
/// container starts, so a declaration the image's QEMU cannot run fails with its QTK codes instead of QEMU's exit.
/// </summary>
internal static class ImageValidation
{
    /// <exception cref="QemuContainerException">The image's QEMU cannot run the machine: every coded error, one per line.</exception>
    public static void EnsureRunnable(MachineSpec spec, QemuCatalog catalog, ImageFacts image, bool recording)
    {
        // No device tree or host memory: those are the host's facts, not the image's (QEMU places the devices itself).
        var errors = MachineSpecValidator.Validate(spec, catalog, new ValidationContext { Recording = recording })
            // A recording that could never be replayed is not made (RecordingGuard, for QEMU on this host): its limits are
            // warnings for a machine that may run unrecorded, and this run records.
            .Where(e => e.Severity == MachineSpecSeverity.Error || (recording && e.Code == MachineSpecErrorCodes.DoesNotReplay))
            .ToArray();
        if (errors.Length > 0)
        {
            throw new QemuContainerException(
                $"machine '{spec.Name}' cannot run in image {image.Name} (QEMU {catalog.QemuVersion}): {string.Join("; ", errors.Select(e => e.ToString()))}; " +
                "fix the QemuMachine item, or name an image whose QEMU supports it (Image metadata)");
        }
    }
}
