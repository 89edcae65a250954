namespace QemuTestKit.Machines.Validation;

/// <summary>
/// A kind of bus, in QEMU's words: the abstract device type whose descendants plug into it (QEMU's <c>bus_type</c> of
/// that class) and the bus type they need (a bus in the tree qualifies when its QOM ancestry reaches it: <c>PCIE</c>
/// is a <c>PCI</c>, <c>virtio-mmio-bus</c> a <c>virtio-bus</c>).
/// </summary>
/// <param name="DeviceType">The abstract device type, for example <c>usb-device</c>.</param>
/// <param name="BusType">The bus type, for example <c>usb-bus</c>.</param>
/// <param name="Name">How messages name the kind: "a USB bus".</param>
/// <param name="Controller">A device type that brings such a bus, to suggest when the machine has none.</param>
internal sealed record BusKind(string DeviceType, string BusType, string Name, string? Controller);

/// <summary>The bus kinds a device can need. Devices of no listed kind (sysbus devices, CPUs, memory) are not bus-checked.</summary>
internal static class BusKinds
{
    // device-list-properties does not say which bus a type plugs into; the abstract parent every such type shares does.
    public static IReadOnlyList<BusKind> All { get; } =
    [
        new("pci-device", "PCI", "a PCI bus", null),
        new("usb-device", "usb-bus", "a USB bus", "qemu-xhci"),
        new("ide-device", "IDE", "an IDE bus", "ich9-ahci"),
        new("scsi-device", "SCSI", "a SCSI bus", "virtio-scsi-pci"),
        new("isa-device", "ISA", "an ISA bus", null),
        new("virtio-device", "virtio-bus", "a virtio bus", null),
        new("i2c-slave", "i2c-bus", "an I2C bus", null),
        new("hda-codec", "HDA", "an HD Audio bus", "intel-hda"),
        new("virtio-serial-port", "virtio-serial-bus", "a virtio-serial bus", "virtio-serial-pci"),
        new("ccid-card", "ccid-bus", "a CCID bus", "usb-ccid"),
        new("nvme-ns", "nvme-bus", "an NVMe bus", "nvme"),
        new("floppy", "floppy-bus", "a floppy bus", null),
        new("ipack-device", "IndustryPack", "an IndustryPack bus", null),
    ];
}
